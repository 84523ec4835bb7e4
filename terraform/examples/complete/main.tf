# A complete stowken deployment: the store (bucket and table), the scheduled GC function and
# the ingest function with their alarms sent to an SNS topic, the writer policy attached to the
# applications' roles and the producer policy to the producers'.
#
#   make lambda                         # at the repository root: dist/stowken-{gc,ingest}-arm64.zip
#   cd terraform/examples/complete
#   terraform init && terraform apply
#
# Then point applications (whose roles got the writer policy) at the outputs:
#   STOWKEN_STORE=$(terraform output -raw store_url) STOWKEN_REFS=$(terraform output -raw refs_url)

provider "aws" {
  region = var.region

  default_tags {
    tags = var.tags
  }
}

# Accepted finding: the topic is not encrypted. CloudWatch alarms cannot publish to a topic
# encrypted with the AWS managed key (alias/aws/sns), and a customer-managed key would need a key
# policy for CloudWatch; the messages carry alarm names and states only.
#tfsec:ignore:aws-sns-enable-topic-encryption
resource "aws_sns_topic" "alarms" {
  name = "${var.name}-alarms"
}

resource "aws_sns_topic_subscription" "alarm_email" {
  count     = var.alarm_email == null ? 0 : 1
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

module "stowken" {
  source = "../../modules/stowken"

  name        = var.name
  bucket_name = var.bucket_name
  prefix      = var.prefix
  kms_key_arn = var.kms_key_arn

  access_log_bucket = var.access_log_bucket

  lambda_zip_path        = var.lambda_zip_path
  ingest_lambda_zip_path = var.ingest_lambda_zip_path
  ingest_firehose        = var.ingest_firehose

  gc_grace   = var.gc_grace
  gc_budget  = var.gc_budget
  gc_dry_run = var.gc_dry_run

  schedule_expression        = var.schedule_expression
  verify_schedule_expression = var.verify_schedule_expression

  alarm_actions = [aws_sns_topic.alarms.arn]
}

resource "aws_iam_role_policy_attachment" "app_writer" {
  for_each   = toset(var.app_role_names)
  role       = each.value
  policy_arn = module.stowken.writer_policy_arn
}

resource "aws_iam_role_policy_attachment" "producer" {
  for_each   = toset(var.producer_role_names)
  role       = each.value
  policy_arn = module.stowken.producer_policy_arn
}
