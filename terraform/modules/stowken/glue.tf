# The catalog's Parquet files (catalog/parquet: PREFIX/catalog/day=YYYY-MM-DD/*.parquet) as an
# AWS Glue table, so that Amazon Athena (and Spark, EMR, Redshift Spectrum) query them as they
# are. Partition projection on day: no crawler, no partition to add. The columns are those of
# catalog/parquet.Row; terraform/terraform_test.go compares them with the Go code.

resource "aws_glue_catalog_database" "this" {
  count       = var.glue_catalog ? 1 : 0
  name        = local.glue_database_name
  description = "stowken: the catalog of s3://${aws_s3_bucket.this.id}/${local.key_prefix}"
  tags        = var.tags
}

resource "aws_glue_catalog_table" "catalog" {
  count         = var.glue_catalog ? 1 : 0
  name          = "catalog"
  database_name = aws_glue_catalog_database.this[0].name
  description   = "One row per stored conversation (deleted ones until the next GC run); see the stowken README, \"Querying the catalog\"."
  table_type    = "EXTERNAL_TABLE"

  parameters = {
    EXTERNAL                       = "TRUE"
    classification                 = "parquet"
    "projection.enabled"           = "true"
    "projection.day.type"          = "date"
    "projection.day.format"        = "yyyy-MM-dd"
    "projection.day.range"         = "2020-01-01,NOW"
    "projection.day.interval"      = "1"
    "projection.day.interval.unit" = "DAYS"
    "storage.location.template"    = "${local.catalog_location}day=$${day}/"
  }

  partition_keys {
    name = "day"
    type = "string"
  }

  storage_descriptor {
    location      = local.catalog_location
    input_format  = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
    output_format = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"

    ser_de_info {
      serialization_library = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    }

    columns {
      name = "id"
      type = "string"
    }
    columns {
      name = "nonce"
      type = "string"
    }
    columns {
      name = "application"
      type = "string"
    }
    columns {
      name = "model"
      type = "string"
    }
    columns {
      name = "tokenizer"
      type = "string"
    }
    columns {
      name = "created_at"
      type = "timestamp"
    }
    columns {
      name = "stored_at"
      type = "timestamp"
    }
    columns {
      name = "messages"
      type = "int"
    }
    columns {
      name = "tokens"
      type = "map<string,bigint>"
    }
    columns {
      name = "total_tokens"
      type = "bigint"
    }
    columns {
      name = "stored_bytes"
      type = "bigint"
    }
    columns {
      name = "metadata"
      type = "map<string,string>"
    }
    columns {
      name    = "batch"
      type    = "string"
      comment = "the batch object that held the conversation when the row was written"
    }
    columns {
      name    = "minhash"
      type    = "binary"
      comment = "MinHash signature (package sketch); null unless the store keeps sketches"
    }
    columns {
      name    = "vector"
      type    = "binary"
      comment = "int8 embedding vector (package sketch); null unless the store keeps sketches"
    }
  }
}
