# --- The garbage-collection function (lambda/gc, built by `make lambda`) ------------------------

# Accepted finding: the log group is encrypted by CloudWatch Logs with its own key, not
# kms_key_arn, whose key policy would have to admit the Logs service; the function logs
# counts, ids and errors, never conversation content.
#tfsec:ignore:aws-cloudwatch-log-group-customer-key
resource "aws_cloudwatch_log_group" "gc" {
  name              = local.log_group_name
  retention_in_days = var.log_retention_days
  tags              = var.tags
}

# Accepted finding: no X-Ray tracing. Its permissions (xray:PutTraceSegments) allow no resource
# but "*", and every run is already recorded in the log group and the metrics the alarms watch.
#tfsec:ignore:aws-lambda-enable-tracing
resource "aws_lambda_function" "gc" {
  function_name = local.function_name
  description   = "stowken garbage collection of unreferenced segments in ${local.store_url}"
  role          = aws_iam_role.gc.arn

  # `make lambda` builds the Go binary "bootstrap" (GOOS=linux, CGO_ENABLED=0, -tags
  # lambda.norpc) for this OS-only runtime.
  runtime       = "provided.al2023"
  handler       = "bootstrap"
  architectures = ["arm64"]

  filename         = var.lambda_zip_path
  source_code_hash = filebase64sha256(var.lambda_zip_path)

  timeout     = var.lambda_timeout
  memory_size = var.lambda_memory_size

  environment {
    variables = {
      STOWKEN_STORE      = local.store_url
      STOWKEN_REFS       = local.refs_url
      STOWKEN_GC_GRACE   = var.gc_grace
      STOWKEN_GC_BUDGET  = tostring(var.gc_budget)
      STOWKEN_GC_DRY_RUN = tostring(var.gc_dry_run)
      STOWKEN_SKETCHES   = tostring(var.sketches)
    }
  }

  tags = var.tags

  # The log group (with its retention) and the role's permissions exist before the first run.
  depends_on = [aws_cloudwatch_log_group.gc, aws_iam_role_policy.gc]
}

# A failed run is not retried: the next scheduled run does the same work.
resource "aws_lambda_function_event_invoke_config" "gc" {
  function_name                = aws_lambda_function.gc.function_name
  maximum_retry_attempts       = 0
  maximum_event_age_in_seconds = 3600
}
