# --- EventBridge Scheduler: the hourly collection and the optional verify run ------------------

resource "aws_scheduler_schedule" "gc" {
  name                         = local.function_name
  description                  = "stowken garbage collection (${local.store_url})"
  schedule_expression          = var.schedule_expression
  schedule_expression_timezone = var.schedule_timezone

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = aws_lambda_function.gc.arn
    role_arn = aws_iam_role.scheduler.arn
    input    = jsonencode({ action = "gc" })

    retry_policy {
      maximum_event_age_in_seconds = 3600
      maximum_retry_attempts       = 2
    }
  }
}

resource "aws_scheduler_schedule" "verify" {
  count = var.verify_schedule_expression == null ? 0 : 1

  name                         = "${var.name}-verify"
  description                  = "stowken read-only verify (${local.store_url}); findings raise the lost-reference alarm"
  schedule_expression          = var.verify_schedule_expression
  schedule_expression_timezone = var.schedule_timezone

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = aws_lambda_function.gc.arn
    role_arn = aws_iam_role.scheduler.arn
    input    = jsonencode({ action = "verify" })

    retry_policy {
      maximum_event_age_in_seconds = 3600
      maximum_retry_attempts       = 2
    }
  }
}
