# --- S3: segments, manifests and compression models -------------------------------------------

# Accepted finding: access logging is optional (access_log_bucket, aws_s3_bucket_logging below):
# it needs a log bucket of the account's, and costs its storage.
#tfsec:ignore:aws-s3-enable-bucket-logging
resource "aws_s3_bucket" "this" {
  bucket        = var.bucket_name
  bucket_prefix = var.bucket_name == null ? "${var.name}-" : null
  tags          = var.tags
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket                  = aws_s3_bucket.this.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "this" {
  bucket = aws_s3_bucket.this.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = aws_s3_bucket.this.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = var.kms_key_arn == null ? "AES256" : "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    # With SSE-KMS, one data key per bucket instead of a KMS request per object.
    bucket_key_enabled = var.kms_key_arn != null
  }
}

# Only TLS: every request over plain HTTP is denied, whoever makes it. Statements of
# var.bucket_policy_documents are merged in (a bucket has one policy, and this module owns it).
data "aws_iam_policy_document" "bucket" {
  source_policy_documents = var.bucket_policy_documents

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [local.bucket_arn, "${local.bucket_arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  bucket = aws_s3_bucket.this.id
  policy = data.aws_iam_policy_document.bucket.json

  # S3 refuses concurrent changes of a bucket's policy and public access block
  # (OperationAborted): one after the other.
  depends_on = [aws_s3_bucket_public_access_block.this]
}

# S3 server access logging, when access_log_bucket is set: one log record per request (reads of
# conversations included), delivered to that bucket under access_log_prefix.
resource "aws_s3_bucket_logging" "this" {
  count = var.access_log_bucket == null ? 0 : 1

  bucket        = aws_s3_bucket.this.id
  target_bucket = var.access_log_bucket
  target_prefix = coalesce(var.access_log_prefix, "${aws_s3_bucket.this.id}/")
}

# Versioning turns a delete (by an application or by the collector) into a delete marker: the
# object stays recoverable for noncurrent_version_expiration_days.
resource "aws_s3_bucket_versioning" "this" {
  bucket = aws_s3_bucket.this.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    id     = "undo-window"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }
    # Delete markers whose last noncurrent version has expired.
    expiration {
      expired_object_delete_marker = true
    }
  }

  rule {
    id     = "abort-incomplete-multipart-uploads"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = var.abort_incomplete_multipart_upload_days
    }
  }

  # Lifecycle rules on noncurrent versions need versioning first.
  depends_on = [aws_s3_bucket_versioning.this]
}

# --- DynamoDB: references, segment heads, GC candidates and the catalog ---------------------------
#
# Exactly the schema of internal/ddbtable (TableSchema): partition key pk (S), sort key sk (S),
# no index (the catalog is Parquet files in the bucket: glue.tf), on-demand billing.
# terraform/terraform_test.go compares it with the Go code.

# Accepted finding: without kms_key_arn the table is encrypted at rest with DynamoDB's AWS owned
# key, which the scanner does not count; with kms_key_arn, with that customer-managed key.
#tfsec:ignore:aws-dynamodb-enable-at-rest-encryption
resource "aws_dynamodb_table" "this" {
  name         = local.table_name
  billing_mode = "PAY_PER_REQUEST"
  table_class  = var.table_class
  hash_key     = "pk"
  range_key    = "sk"

  attribute {
    name = "pk"
    type = "S"
  }

  attribute {
    name = "sk"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  # The bucket's customer-managed key, when kms_key_arn is set; else the AWS owned key.
  server_side_encryption {
    enabled     = var.kms_key_arn != null
    kms_key_arn = var.kms_key_arn
  }

  deletion_protection_enabled = true

  tags = var.tags
}
