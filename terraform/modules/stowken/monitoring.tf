# --- Alarms ---------------------------------------------------------------------------------------
#
# The function logs JSON lines (log/slog): {"time":…,"level":"INFO|WARN|ERROR","msg":…, …}.
# A failed run logs at level ERROR and returns an error (the Errors metric); the vault's verify
# logs one line {"msg":"verify","ok":…,"missing_segments":…,"missing_refs":…, …}.

resource "aws_cloudwatch_metric_alarm" "gc_errors" {
  alarm_name          = "${local.function_name}-errors"
  alarm_description   = "The stowken GC function ${local.function_name} failed (a returned error, a crash or a timeout); see ${local.log_group_name}."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.gc.function_name }
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

resource "aws_cloudwatch_log_metric_filter" "gc_error_logs" {
  name           = "${local.function_name}-error-logs"
  log_group_name = aws_cloudwatch_log_group.gc.name
  pattern        = "{ $.level = \"ERROR\" }"

  metric_transformation {
    namespace = local.metric_namespace
    name      = "GCErrorLogs"
    value     = "1"
    unit      = "Count"
  }
}

resource "aws_cloudwatch_metric_alarm" "gc_error_logs" {
  alarm_name          = "${local.function_name}-error-logs"
  alarm_description   = "The stowken GC function ${local.function_name} logged an error (GC, verify, opening the store or its configuration); see ${local.log_group_name}."
  namespace           = local.metric_namespace
  metric_name         = aws_cloudwatch_log_metric_filter.gc_error_logs.metric_transformation[0].name
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

# A stored conversation that cannot be read back exactly: a segment it uses is missing, or it
# lacks a reference that protects its segments from the collector (verify, package vault).
resource "aws_cloudwatch_log_metric_filter" "lost_references" {
  name           = "${var.name}-lost-references"
  log_group_name = aws_cloudwatch_log_group.gc.name
  pattern        = "{ ($.msg = \"verify\") && (($.ok IS FALSE) || ($.missing_segments > 0) || ($.missing_refs > 0)) }"

  metric_transformation {
    namespace = local.metric_namespace
    name      = "LostReferenceFindings"
    value     = "1"
    unit      = "Count"
  }
}

resource "aws_cloudwatch_metric_alarm" "lost_references" {
  alarm_name          = "${var.name}-lost-references"
  alarm_description   = "stowken verify found stored conversations with missing segments or missing references in ${local.store_url}; run `stowken verify` for the list (`--repair` restores missing references)."
  namespace           = local.metric_namespace
  metric_name         = aws_cloudwatch_log_metric_filter.lost_references.metric_transformation[0].name
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
