# --- The ingest function (lambda/ingest, built by `make lambda`) and its routes ------------------
#
# Producers send lines (package ingest): to the SQS queue, to the optional Firehose delivery
# stream (which writes them to the inbox prefix), or as objects under the inbox prefix. The
# function stores them in batches: S3 notifications of the inbox, and the queue's batches
# through an event source mapping.

# Accepted finding: the log group is encrypted by CloudWatch Logs with its own key, not
# kms_key_arn, whose key policy would have to admit the Logs service; the function logs
# counts, ids, keys and errors, never conversation content.
#tfsec:ignore:aws-cloudwatch-log-group-customer-key
resource "aws_cloudwatch_log_group" "ingest" {
  name              = local.ingest_log_group_name
  retention_in_days = var.log_retention_days
  tags              = var.tags
}

# Accepted finding: no X-Ray tracing (as for the GC function).
#tfsec:ignore:aws-lambda-enable-tracing
resource "aws_lambda_function" "ingest" {
  function_name = local.ingest_function_name
  description   = "stowken ingest: stores the inbox objects and queued conversations of ${local.store_url} in batches"
  role          = aws_iam_role.ingest.arn

  runtime       = "provided.al2023"
  handler       = "bootstrap"
  architectures = ["arm64"]

  filename         = var.ingest_lambda_zip_path
  source_code_hash = filebase64sha256(var.ingest_lambda_zip_path)

  timeout     = var.ingest_timeout
  memory_size = var.ingest_memory_size

  environment {
    variables = {
      STOWKEN_STORE    = local.store_url
      STOWKEN_REFS     = local.refs_url
      STOWKEN_SKETCHES = tostring(var.sketches)
    }
  }

  tags       = var.tags
  depends_on = [aws_cloudwatch_log_group.ingest, aws_iam_role_policy.ingest]
}

# --- The inbox: S3 notifications of objects created under PREFIX/inbox/ ---------------------------

resource "aws_lambda_permission" "inbox" {
  statement_id   = "InvokedByInboxNotifications"
  action         = "lambda:InvokeFunction"
  function_name  = aws_lambda_function.ingest.function_name
  principal      = "s3.amazonaws.com"
  source_arn     = aws_s3_bucket.this.arn
  source_account = data.aws_caller_identity.current.account_id
}

resource "aws_s3_bucket_notification" "inbox" {
  bucket = aws_s3_bucket.this.id

  lambda_function {
    lambda_function_arn = aws_lambda_function.ingest.arn
    events              = ["s3:ObjectCreated:*"]
    filter_prefix       = "${local.key_prefix}inbox/"
  }

  depends_on = [aws_lambda_permission.inbox]
}

# S3 invokes the function asynchronously: a failed invocation (a transient error; the object
# stays) is retried twice, the event kept for up to six hours.
resource "aws_lambda_function_event_invoke_config" "ingest" {
  function_name                = aws_lambda_function.ingest.function_name
  maximum_retry_attempts       = 2
  maximum_event_age_in_seconds = 21600
}

# --- The queue ----------------------------------------------------------------------------------

resource "aws_sqs_queue" "ingest_dead_letters" {
  count                             = var.ingest_queue ? 1 : 0
  name                              = "${var.name}-ingest-dead-letters"
  message_retention_seconds         = 1209600
  sqs_managed_sse_enabled           = var.kms_key_arn == null ? true : null
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = var.kms_key_arn == null ? null : 3600
  tags                              = var.tags
}

resource "aws_sqs_queue" "ingest" {
  count                     = var.ingest_queue ? 1 : 0
  name                      = "${var.name}-ingest"
  max_message_size          = 1048576
  message_retention_seconds = 1209600
  # Six times the function's timeout, as Lambda advises for an event source mapping's queue:
  # a batch being stored is not delivered to another invocation.
  visibility_timeout_seconds        = 6 * var.ingest_timeout
  sqs_managed_sse_enabled           = var.kms_key_arn == null ? true : null
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = var.kms_key_arn == null ? null : 3600
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.ingest_dead_letters[0].arn
    maxReceiveCount     = var.ingest_max_receive_count
  })
  tags = var.tags
}

resource "aws_lambda_event_source_mapping" "ingest" {
  count                              = var.ingest_queue ? 1 : 0
  event_source_arn                   = aws_sqs_queue.ingest[0].arn
  function_name                      = aws_lambda_function.ingest.arn
  batch_size                         = var.ingest_batch_size
  maximum_batching_window_in_seconds = var.ingest_batching_window_seconds
  function_response_types            = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = var.ingest_max_concurrency
  }
}

# --- The delivery stream (optional) ---------------------------------------------------------------

data "aws_iam_policy_document" "firehose_assume" {
  statement {
    sid     = "FirehoseAssumesRole"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["firehose.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "sts:ExternalId"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "firehose" {
  count              = var.ingest_firehose ? 1 : 0
  name               = "${var.name}-ingest-firehose"
  description        = "Amazon Data Firehose: delivers ${var.name}'s ingest stream to the store's inbox"
  assume_role_policy = data.aws_iam_policy_document.firehose_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "firehose" {
  # Firehose's S3 destination: it writes the inbox objects (and failed deliveries beside the
  # inbox, so that they do not reach the function), and manages its multipart uploads.
  # Accepted wildcard: the inbox and the stream's error prefix under the store's prefix.
  #tfsec:ignore:aws-iam-no-policy-wildcards
  statement {
    sid       = "DeliverToInbox"
    effect    = "Allow"
    actions   = ["s3:AbortMultipartUpload", "s3:PutObject"]
    resources = [local.inbox_arn, local.inbox_errors_arn]
  }

  statement {
    sid       = "LocateBucket"
    effect    = "Allow"
    actions   = ["s3:GetBucketLocation", "s3:ListBucketMultipartUploads"]
    resources = [local.bucket_arn]
  }

  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]
    content {
      sid       = "EncryptInboxObjects"
      effect    = "Allow"
      actions   = ["kms:GenerateDataKey"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role_policy" "firehose" {
  count  = var.ingest_firehose ? 1 : 0
  name   = "${var.name}-ingest-firehose"
  role   = aws_iam_role.firehose[0].id
  policy = data.aws_iam_policy_document.firehose.json
}

resource "aws_kinesis_firehose_delivery_stream" "ingest" {
  count       = var.ingest_firehose ? 1 : 0
  name        = "${var.name}-ingest"
  destination = "extended_s3"

  server_side_encryption {
    enabled  = true
    key_type = var.kms_key_arn == null ? "AWS_OWNED_CMK" : "CUSTOMER_MANAGED_CMK"
    key_arn  = var.kms_key_arn
  }

  extended_s3_configuration {
    role_arn            = aws_iam_role.firehose[0].arn
    bucket_arn          = aws_s3_bucket.this.arn
    prefix              = "${local.key_prefix}inbox/"
    error_output_prefix = "${local.key_prefix}inbox-errors/"
    buffering_size      = var.ingest_firehose_buffer_mb
    buffering_interval  = var.ingest_firehose_buffer_seconds
    compression_format  = "GZIP"
    kms_key_arn         = var.kms_key_arn
  }

  tags = var.tags
}

# --- Producers --------------------------------------------------------------------------------------

data "aws_iam_policy_document" "producer" {
  # Objects under the inbox (a Writer, or any batch job), with If-None-Match: * as every write
  # of the store.
  # Accepted wildcard: the inbox under the store's prefix, and only with If-None-Match.
  #tfsec:ignore:aws-iam-no-policy-wildcards
  statement {
    sid       = "WriteInboxObjects"
    effect    = "Allow"
    actions   = ["s3:PutObject"]
    resources = [local.inbox_arn]
    condition {
      test     = "Null"
      variable = "s3:if-none-match"
      values   = ["false"]
    }
  }

  dynamic "statement" {
    for_each = aws_sqs_queue.ingest
    content {
      sid       = "SendToQueue"
      effect    = "Allow"
      actions   = ["sqs:SendMessage"]
      resources = [statement.value.arn]
    }
  }

  dynamic "statement" {
    for_each = aws_kinesis_firehose_delivery_stream.ingest
    content {
      sid       = "PutToDeliveryStream"
      effect    = "Allow"
      actions   = ["firehose:PutRecord", "firehose:PutRecordBatch"]
      resources = [statement.value.arn]
    }
  }

  # The inbox objects and the queue's messages are encrypted with the key, when one is given.
  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]
    content {
      sid       = "EncryptWithStoreKey"
      effect    = "Allow"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_policy" "producer" {
  name        = "${var.name}-producer"
  description = "stowken: hand conversations to the ingest function of s3://${aws_s3_bucket.this.id}/${local.key_prefix} (its queue, its delivery stream, or objects under its inbox); nothing else"
  policy      = data.aws_iam_policy_document.producer.json
  tags        = var.tags
}

# --- Alarms -----------------------------------------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "ingest_errors" {
  alarm_name          = "${local.ingest_function_name}-errors"
  alarm_description   = "The stowken ingest function ${local.ingest_function_name} failed (a transient error: the event is delivered again); see ${local.ingest_log_group_name}."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.ingest.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "ingest_dead_letters" {
  count               = var.ingest_queue ? 1 : 0
  alarm_name          = "${var.name}-ingest-dead-letters"
  alarm_description   = "Messages that the ingest function could not store reached ${aws_sqs_queue.ingest_dead_letters[0].name}; their reasons are in ${local.ingest_log_group_name}."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.ingest_dead_letters[0].name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "ingest_queue_age" {
  count               = var.ingest_queue ? 1 : 0
  alarm_name          = "${var.name}-ingest-queue-age"
  alarm_description   = "The oldest message of ${aws_sqs_queue.ingest[0].name} waits for more than an hour: the ingest function is failing or throttled."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = aws_sqs_queue.ingest[0].name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 3600
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = var.tags
}

# The GC function logs the inbox at each run: {"msg":"inbox","objects":N,"oldest_seconds":S}.
resource "aws_cloudwatch_log_metric_filter" "inbox_oldest" {
  name           = "${var.name}-inbox-oldest"
  log_group_name = aws_cloudwatch_log_group.gc.name
  pattern        = "{ $.msg = \"inbox\" }"

  metric_transformation {
    namespace = local.metric_namespace
    name      = "InboxOldestSeconds"
    value     = "$.oldest_seconds"
    unit      = "Seconds"
  }
}

resource "aws_cloudwatch_metric_alarm" "inbox_age" {
  alarm_name          = "${var.name}-inbox-age"
  alarm_description   = "An object waits under ${local.store_url}/inbox/ for more than an hour: the ingest function fails on it, or its notification is not configured; see ${local.ingest_log_group_name}."
  namespace           = local.metric_namespace
  metric_name         = aws_cloudwatch_log_metric_filter.inbox_oldest.metric_transformation[0].name
  statistic           = "Maximum"
  period              = 3600
  evaluation_periods  = 1
  threshold           = 3600
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = var.tags
}
