variable "name" {
  description = "Name prefix of every resource this module creates (function, roles, schedule, alarms, log metrics, and the generated bucket name). 2 to 32 lower-case letters, digits and '-'."
  type        = string
  default     = "stowken"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,30}[a-z0-9]$", var.name))
    error_message = "name must be 2 to 32 lower-case letters, digits or '-', not starting or ending with '-'."
  }
}

variable "bucket_name" {
  description = "Name of the S3 bucket for segments, manifests and compression models. null: a unique name starting with \"<name>-\" is generated."
  type        = string
  default     = null
}

variable "prefix" {
  description = "Key prefix of the store inside the bucket, without leading or trailing '/' (\"\" for the whole bucket). STOWKEN_STORE is s3://BUCKET/PREFIX, and every IAM grant is scoped to it."
  type        = string
  default     = "stowken"

  validation {
    condition     = can(regex("^([A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*)?$", var.prefix)) && !contains(split("/", var.prefix), "..") && !contains(split("/", var.prefix), ".")
    error_message = "prefix must be empty or '/'-separated names of letters, digits, '_', '.' and '-' (no '.' or '..' elements), without leading or trailing '/'."
  }
}

variable "table_name" {
  description = "Name of the DynamoDB reference table. null: the value of name."
  type        = string
  default     = null
}

variable "table_class" {
  description = "DynamoDB table class: STANDARD_INFREQUENT_ACCESS (storage at $0.10 instead of $0.25 per GB-month, requests a quarter dearer: cheaper for conversations kept longer than about 6 months), or STANDARD. stowken stats and bench price the table by the class DescribeTable reports."
  type        = string
  default     = "STANDARD_INFREQUENT_ACCESS"

  validation {
    condition     = contains(["STANDARD", "STANDARD_INFREQUENT_ACCESS"], var.table_class)
    error_message = "table_class must be STANDARD or STANDARD_INFREQUENT_ACCESS."
  }
}

variable "glue_catalog" {
  description = "Create an AWS Glue database and table over the catalog's Parquet files (partition projection on day, no crawler), so that Athena queries them."
  type        = bool
  default     = true
}

variable "glue_database_name" {
  description = "Name of the Glue database of the catalog table. null: name, with '-' replaced by '_'."
  type        = string
  default     = null
}

variable "kms_key_arn" {
  description = "ARN of a customer-managed KMS key that encrypts the bucket (SSE-KMS, with an S3 bucket key) and the DynamoDB table. null: SSE-S3 (AES256) and the table's AWS owned key. When set, the GC role gets kms:Decrypt and the writer policy kms:Decrypt and kms:GenerateDataKey on this key for objects, and both kms:Decrypt, kms:DescribeKey, kms:Encrypt and kms:GenerateDataKey on it through DynamoDB (kms:ViaService); the key policy must let the account's IAM policies grant its use."
  type        = string
  default     = null
}

variable "access_log_bucket" {
  description = "Name of an S3 bucket (same account and region, SSE-S3, with a bucket policy that lets logging.s3.amazonaws.com put objects) that receives the store bucket's server access logs: one record per request, reads of conversations included. null: no access logging."
  type        = string
  default     = null
}

variable "access_log_prefix" {
  description = "Key prefix of the access log objects in access_log_bucket. null: \"<store bucket name>/\"."
  type        = string
  default     = null
}

variable "bucket_policy_documents" {
  description = "IAM policy documents (JSON) whose statements are merged into the store bucket's policy, which this module owns and which denies every request without TLS (statement DenyInsecureTransport, which replaces a merged statement with the same sid)."
  type        = list(string)
  default     = []
}

variable "noncurrent_version_expiration_days" {
  description = "Days a replaced or deleted object version is kept before S3 expires it: the undo window after a delete or a garbage collection (the bucket is versioned)."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1 && floor(var.noncurrent_version_expiration_days) == var.noncurrent_version_expiration_days
    error_message = "noncurrent_version_expiration_days must be a whole number of days, at least 1."
  }
}

variable "abort_incomplete_multipart_upload_days" {
  description = "Days after which S3 aborts incomplete multipart uploads and frees their parts."
  type        = number
  default     = 7

  validation {
    condition     = var.abort_incomplete_multipart_upload_days >= 1 && floor(var.abort_incomplete_multipart_upload_days) == var.abort_incomplete_multipart_upload_days
    error_message = "abort_incomplete_multipart_upload_days must be a whole number of days, at least 1."
  }
}

variable "lambda_zip_path" {
  description = "Path of the GC function's deployment package built by `make lambda` for arm64 (dist/stowken-gc-arm64.zip), relative to the directory terraform runs in."
  type        = string
}

variable "lambda_memory_size" {
  description = "Memory of the GC function in MB (CPU scales with it)."
  type        = number
  default     = 512

  validation {
    condition     = var.lambda_memory_size >= 128 && var.lambda_memory_size <= 10240
    error_message = "lambda_memory_size must be between 128 and 10240 MB."
  }
}

variable "lambda_timeout" {
  description = "Timeout of the GC function in seconds. A run stops 30 seconds before it (STOWKEN_GC_SAFETY_MARGIN) and the next run continues; at most 900 (15 minutes), which also keeps every delete inside the first half of a GC claim (30 minutes)."
  type        = number
  default     = 900

  validation {
    condition     = var.lambda_timeout >= 60 && var.lambda_timeout <= 900
    error_message = "lambda_timeout must be between 60 and 900 seconds."
  }
}

variable "ingest_lambda_zip_path" {
  description = "Path of the ingest function's deployment package built by `make lambda` for arm64 (dist/stowken-ingest-arm64.zip), relative to the directory terraform runs in."
  type        = string
}

variable "ingest_memory_size" {
  description = "Memory of the ingest function in MB (CPU scales with it: tokenizing is most of its work)."
  type        = number
  default     = 1024

  validation {
    condition     = var.ingest_memory_size >= 128 && var.ingest_memory_size <= 10240
    error_message = "ingest_memory_size must be between 128 and 10240 MB."
  }
}

variable "ingest_timeout" {
  description = "Timeout of the ingest function in seconds. The queue's visibility timeout is six times this."
  type        = number
  default     = 300

  validation {
    condition     = var.ingest_timeout >= 30 && var.ingest_timeout <= 900
    error_message = "ingest_timeout must be between 30 and 900 seconds."
  }
}

variable "ingest_queue" {
  description = "Create the SQS ingest queue (encrypted), its dead-letter queue and the event source mapping that feeds the ingest function."
  type        = bool
  default     = true
}

variable "ingest_batch_size" {
  description = "Most messages the event source mapping hands the ingest function at once (up to 10,000; the payload stays under 6 MB). Larger batches mean fewer invocations and fuller StoreBatch calls."
  type        = number
  default     = 10000

  validation {
    condition     = var.ingest_batch_size >= 1 && var.ingest_batch_size <= 10000
    error_message = "ingest_batch_size must be between 1 and 10000."
  }
}

variable "ingest_batching_window_seconds" {
  description = "How long the event source mapping gathers messages before it invokes the function (up to 300 seconds): the latency traded for fuller batches."
  type        = number
  default     = 300

  validation {
    condition     = var.ingest_batching_window_seconds >= 0 && var.ingest_batching_window_seconds <= 300
    error_message = "ingest_batching_window_seconds must be between 0 and 300."
  }
}

variable "ingest_max_concurrency" {
  description = "Most concurrent invocations of the ingest function by the queue's event source mapping (2 to 1000)."
  type        = number
  default     = 5

  validation {
    condition     = var.ingest_max_concurrency >= 2 && var.ingest_max_concurrency <= 1000
    error_message = "ingest_max_concurrency must be between 2 and 1000."
  }
}

variable "ingest_max_receive_count" {
  description = "Deliveries of a message before the queue moves it to the dead-letter queue (a message that cannot be stored, logged with its reason)."
  type        = number
  default     = 3

  validation {
    condition     = var.ingest_max_receive_count >= 1 && var.ingest_max_receive_count <= 1000
    error_message = "ingest_max_receive_count must be between 1 and 1000."
  }
}

variable "ingest_firehose" {
  description = "Create an Amazon Data Firehose delivery stream whose destination is the store's inbox (gzip objects, which the ingest function stores)."
  type        = bool
  default     = false
}

variable "ingest_firehose_buffer_mb" {
  description = "The delivery stream's buffer size in MB (1 to 128): it writes an inbox object when this much is buffered."
  type        = number
  default     = 128

  validation {
    condition     = var.ingest_firehose_buffer_mb >= 1 && var.ingest_firehose_buffer_mb <= 128
    error_message = "ingest_firehose_buffer_mb must be between 1 and 128."
  }
}

variable "ingest_firehose_buffer_seconds" {
  description = "The delivery stream's buffer interval in seconds (0 to 900): it writes an inbox object at least this often while records arrive."
  type        = number
  default     = 900

  validation {
    condition     = var.ingest_firehose_buffer_seconds >= 0 && var.ingest_firehose_buffer_seconds <= 900
    error_message = "ingest_firehose_buffer_seconds must be between 0 and 900."
  }
}

variable "gc_grace" {
  description = "STOWKEN_GC_GRACE: a segment is collected only once it has been unreferenced for this long (a Go duration such as \"24h\" or \"90m\")."
  type        = string
  default     = "24h"

  validation {
    condition     = can(regex("^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$", var.gc_grace)) || var.gc_grace == "0"
    error_message = "gc_grace must be a Go duration such as \"24h\", \"1h30m\" or \"0s\"."
  }
}

variable "gc_budget" {
  description = "STOWKEN_GC_BUDGET: at most this many segments are deleted per run; 0 means no limit."
  type        = number
  default     = 0

  validation {
    condition     = var.gc_budget >= 0 && floor(var.gc_budget) == var.gc_budget
    error_message = "gc_budget must be a whole number, 0 or more."
  }
}

variable "gc_dry_run" {
  description = "STOWKEN_GC_DRY_RUN: when true the function reports what it would delete and changes nothing."
  type        = bool
  default     = false
}

variable "sketches" {
  description = "STOWKEN_SKETCHES of the GC and ingest functions: when true, each catalog row gets the conversation's sketches (a MinHash signature and an embedding vector, 776 bytes), so that stowken dups, cluster and outliers read the catalog instead of every conversation. Services storing with the vault package set vault.Options.Sketches (the stowken CLI: STOWKEN_SKETCHES=true). See docs/design.md, \"Sketches and the analyses\"."
  type        = bool
  default     = false
}

variable "schedule_expression" {
  description = "EventBridge Scheduler expression for the garbage collection, e.g. \"rate(1 hour)\" or \"cron(15 * * * ? *)\"."
  type        = string
  default     = "rate(1 hour)"
}

variable "schedule_timezone" {
  description = "Time zone of cron schedule expressions (IANA name)."
  type        = string
  default     = "UTC"
}

variable "verify_schedule_expression" {
  description = "EventBridge Scheduler expression for a read-only verify run of the same function (event {\"action\":\"verify\"}), whose findings feed the lost-reference alarm, e.g. \"rate(1 day)\". null: no verify schedule. Verify reads every object once, so it suits stores it can check within the function's timeout."
  type        = string
  default     = null
}

variable "log_retention_days" {
  description = "Days CloudWatch Logs keeps the function's log group."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of the values CloudWatch Logs accepts: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653."
  }
}

variable "alarm_actions" {
  description = "ARNs (e.g. SNS topics) notified when an alarm fires and when it recovers."
  type        = list(string)
  default     = []
}

variable "metric_namespace" {
  description = "CloudWatch namespace prefix of the metrics extracted from the function's logs; they are published under \"<metric_namespace>/<name>\"."
  type        = string
  default     = "stowken"
}

variable "tags" {
  description = "Tags added to every resource that takes tags."
  type        = map(string)
  default     = {}
}
