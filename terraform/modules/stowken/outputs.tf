output "bucket_name" {
  description = "Name of the S3 bucket that holds the store."
  value       = aws_s3_bucket.this.id
}

output "bucket_arn" {
  description = "ARN of the S3 bucket that holds the store."
  value       = aws_s3_bucket.this.arn
}

output "store_url" {
  description = "The store location for STOWKEN_STORE / --store: s3://BUCKET/PREFIX."
  value       = local.store_url
}

output "table_name" {
  description = "Name of the DynamoDB reference table."
  value       = aws_dynamodb_table.this.name
}

output "table_arn" {
  description = "ARN of the DynamoDB reference table."
  value       = aws_dynamodb_table.this.arn
}

output "refs_url" {
  description = "The reference store location for STOWKEN_REFS / --refs: dynamodb://TABLE."
  value       = local.refs_url
}

output "function_name" {
  description = "Name of the GC Lambda function."
  value       = aws_lambda_function.gc.function_name
}

output "function_arn" {
  description = "ARN of the GC Lambda function."
  value       = aws_lambda_function.gc.arn
}

output "gc_role_arn" {
  description = "ARN of the GC function's execution role."
  value       = aws_iam_role.gc.arn
}

output "scheduler_role_arn" {
  description = "ARN of the role EventBridge Scheduler assumes to invoke the GC function."
  value       = aws_iam_role.scheduler.arn
}

output "schedule_arn" {
  description = "ARN of the EventBridge Scheduler schedule that runs the garbage collection."
  value       = aws_scheduler_schedule.gc.arn
}

output "verify_schedule_arn" {
  description = "ARN of the verify schedule, or null when verify_schedule_expression is null."
  value       = one(aws_scheduler_schedule.verify[*].arn)
}

output "writer_policy_arn" {
  description = "ARN of the IAM policy to attach to applications that store, retrieve, list and delete conversations (no deletion of segments)."
  value       = aws_iam_policy.writer.arn
}

output "writer_policy_json" {
  description = "The writer policy document, for embedding into policies managed elsewhere."
  value       = data.aws_iam_policy_document.writer.json
}

output "log_group_name" {
  description = "CloudWatch Logs group of the GC function."
  value       = aws_cloudwatch_log_group.gc.name
}

output "alarm_arns" {
  description = "ARNs of the CloudWatch alarms: function errors, error log lines, lost references."
  value = {
    gc_errors       = aws_cloudwatch_metric_alarm.gc_errors.arn
    gc_error_logs   = aws_cloudwatch_metric_alarm.gc_error_logs.arn
    lost_references = aws_cloudwatch_metric_alarm.lost_references.arn
  }
}

output "glue_database_name" {
  description = "Name of the Glue database of the catalog table (null without glue_catalog)."
  value       = var.glue_catalog ? aws_glue_catalog_database.this[0].name : null
}

output "glue_table_name" {
  description = "Name of the Glue table over the catalog's Parquet files, for Athena: DATABASE.catalog (null without glue_catalog)."
  value       = var.glue_catalog ? aws_glue_catalog_table.catalog[0].name : null
}

output "ingest_function_name" {
  description = "Name of the ingest Lambda function."
  value       = aws_lambda_function.ingest.function_name
}

output "ingest_queue_url" {
  description = "URL of the SQS ingest queue producers send lines to (null without ingest_queue)."
  value       = one(aws_sqs_queue.ingest[*].url)
}

output "ingest_dead_letter_queue_url" {
  description = "URL of the ingest queue's dead-letter queue (null without ingest_queue)."
  value       = one(aws_sqs_queue.ingest_dead_letters[*].url)
}

output "ingest_delivery_stream_name" {
  description = "Name of the Firehose delivery stream producers put lines to (null without ingest_firehose)."
  value       = one(aws_kinesis_firehose_delivery_stream.ingest[*].name)
}

output "inbox_url" {
  description = "Where producers may write inbox objects (JSONL or JSONL.gz): s3://BUCKET/PREFIX/inbox/."
  value       = "s3://${aws_s3_bucket.this.id}/${local.key_prefix}inbox/"
}

output "producer_policy_arn" {
  description = "ARN of the IAM policy to attach to producers: send to the ingest queue, put to the delivery stream, or write under the inbox; nothing else."
  value       = aws_iam_policy.producer.arn
}
