variable "region" {
  description = "AWS region to deploy into."
  type        = string
  default     = "us-east-1"
}

variable "name" {
  description = "Name prefix of the deployment's resources."
  type        = string
  default     = "stowken"
}

variable "bucket_name" {
  description = "Name of the S3 bucket; null generates a unique one."
  type        = string
  default     = null
}

variable "prefix" {
  description = "Key prefix of the store inside the bucket."
  type        = string
  default     = "stowken"
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key for the bucket (SSE-KMS) and the table; null: SSE-S3 and the table's AWS owned key."
  type        = string
  default     = null
}

variable "access_log_bucket" {
  description = "Existing S3 bucket (same account and region) that receives the store bucket's server access logs; null: no access logging."
  type        = string
  default     = null
}

variable "lambda_zip_path" {
  description = "The GC function's deployment package, built by `make lambda` at the repository root; relative to this directory."
  type        = string
  default     = "../../../dist/stowken-gc-arm64.zip"
}

variable "ingest_lambda_zip_path" {
  description = "The ingest function's deployment package, built by `make lambda` at the repository root; relative to this directory."
  type        = string
  default     = "../../../dist/stowken-ingest-arm64.zip"
}

variable "ingest_firehose" {
  description = "Also create a Firehose delivery stream into the store's inbox."
  type        = bool
  default     = false
}

variable "producer_role_names" {
  description = "IAM roles of the producers (an LLM gateway's Lambda functions) that get the producer policy: send to the ingest queue or stream, or write inbox objects."
  type        = list(string)
  default     = []
}

variable "gc_grace" {
  description = "How long a segment must have been unreferenced before the GC deletes it (Go duration)."
  type        = string
  default     = "24h"
}

variable "gc_budget" {
  description = "Segments deleted at most per GC run (0: no limit)."
  type        = number
  default     = 0
}

variable "gc_dry_run" {
  description = "Run the GC without deleting anything (it only reports)."
  type        = bool
  default     = false
}

variable "schedule_expression" {
  description = "EventBridge Scheduler expression of the GC runs."
  type        = string
  default     = "rate(1 hour)"
}

variable "verify_schedule_expression" {
  description = "EventBridge Scheduler expression of read-only verify runs (feeds the lost-reference alarm); null disables them."
  type        = string
  default     = "rate(1 day)"
}

variable "alarm_email" {
  description = "E-mail address subscribed to the alarm topic (the subscription must be confirmed); null: no subscription."
  type        = string
  default     = null
}

variable "app_role_names" {
  description = "Names of existing IAM roles of applications that use the store; the writer policy is attached to each."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = { project = "stowken" }
}
