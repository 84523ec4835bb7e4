# stowken: conversations stored as deduplicated token segments in S3, references in DynamoDB,
# and a scheduled Lambda that collects segments no conversation references any more.
# See README.md in this directory.

data "aws_caller_identity" "current" {}

locals {
  table_name    = coalesce(var.table_name, var.name)
  function_name = "${var.name}-gc"

  # "" or "PREFIX/": what the Go code puts before every object key (objstore/s3).
  key_prefix = var.prefix == "" ? "" : "${var.prefix}/"

  # The object key layout of package vault: segments/<2 hex>/<2 hex>/<id>, batches/<batch id>,
  # models/<id>, and manifests/<id>.json.zst of the layout before batches (stowken migrate); the catalog's Parquet files under catalog/ and its deletions under
  # catalog-deleted/ (catalog/parquet); and checks/, where the startup probe of conditional
  # writes puts its scratch objects and its marker. IAM grants are scoped with these ARNs.
  bucket_arn    = aws_s3_bucket.this.arn
  objects_arn   = "${aws_s3_bucket.this.arn}/${local.key_prefix}*"
  segments_arn  = "${aws_s3_bucket.this.arn}/${local.key_prefix}segments/*"
  manifests_arn = "${aws_s3_bucket.this.arn}/${local.key_prefix}manifests/*"
  batches_arn   = "${aws_s3_bucket.this.arn}/${local.key_prefix}batches/*"
  models_arn    = "${aws_s3_bucket.this.arn}/${local.key_prefix}models/*"
  checks_arn    = "${aws_s3_bucket.this.arn}/${local.key_prefix}checks/*"
  catalog_arn   = "${aws_s3_bucket.this.arn}/${local.key_prefix}catalog/*"
  deletions_arn = "${aws_s3_bucket.this.arn}/${local.key_prefix}catalog-deleted/*"
  gathered_arn  = "${aws_s3_bucket.this.arn}/${local.key_prefix}catalog-gathered/*"
  table_arn     = aws_dynamodb_table.this.arn

  # The ingest function's inbox (package ingest): the objects it stores, the reports of the
  # lines it rejects, and the records the delivery stream failed to deliver.
  inbox_arn        = "${aws_s3_bucket.this.arn}/${local.key_prefix}inbox/*"
  rejects_arn      = "${aws_s3_bucket.this.arn}/${local.key_prefix}inbox-rejects/*"
  inbox_errors_arn = "${aws_s3_bucket.this.arn}/${local.key_prefix}inbox-errors/*"

  # The catalog's files, as query engines address them (glue.tf).
  catalog_location   = "s3://${aws_s3_bucket.this.id}/${local.key_prefix}catalog/"
  glue_database_name = coalesce(var.glue_database_name, replace(var.name, "-", "_"))

  # STOWKEN_STORE and STOWKEN_REFS (package location): region and credentials come from the SDK's chain.
  store_url = "s3://${aws_s3_bucket.this.id}/${var.prefix}"
  refs_url  = "dynamodb://${aws_dynamodb_table.this.name}"

  # The log group Lambda writes to; created here so that it has a retention and exists before
  # the function runs.
  log_group_name = "/aws/lambda/${local.function_name}"

  ingest_function_name  = "${var.name}-ingest"
  ingest_log_group_name = "/aws/lambda/${local.ingest_function_name}"

  metric_namespace = "${var.metric_namespace}/${var.name}"
}
