terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 5.40: aws_scheduler_schedule and deletion_protection_enabled on aws_dynamodb_table, both
      # needed here, are well established by then.
      version = ">= 5.40"
    }
  }
}
