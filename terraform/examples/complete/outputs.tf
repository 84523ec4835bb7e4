output "store_url" {
  description = "STOWKEN_STORE for applications and the CLI."
  value       = module.stowken.store_url
}

output "refs_url" {
  description = "STOWKEN_REFS for applications and the CLI."
  value       = module.stowken.refs_url
}

output "bucket_name" {
  description = "The store's S3 bucket."
  value       = module.stowken.bucket_name
}

output "table_name" {
  description = "The store's DynamoDB reference table."
  value       = module.stowken.table_name
}

output "function_name" {
  description = "The GC Lambda function."
  value       = module.stowken.function_name
}

output "function_arn" {
  description = "ARN of the GC Lambda function."
  value       = module.stowken.function_arn
}

output "writer_policy_arn" {
  description = "IAM policy for applications that store, retrieve, list and delete conversations."
  value       = module.stowken.writer_policy_arn
}

output "alarm_topic_arn" {
  description = "SNS topic the alarms notify."
  value       = aws_sns_topic.alarms.arn
}

output "ingest_queue_url" {
  description = "The SQS queue producers send lines to (ingest.Encode)."
  value       = module.stowken.ingest_queue_url
}

output "inbox_url" {
  description = "Where producers may write inbox objects."
  value       = module.stowken.inbox_url
}
