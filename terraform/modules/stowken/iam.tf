# Least-privilege IAM, derived from the AWS SDK calls of objstore/s3, internal/ddbtable and
# refcount/dynamodb (terraform/iam_test.go keeps the list and checks it against the Go sources):
#
#   SDK call (Go)                        IAM action           GC function   writer policy
#   s3 ListObjectsV2 (Bucket.List)       s3:ListBucket        yes           yes
#   s3 GetObject (Bucket.Get)            s3:GetObject         yes           yes
#   s3 HeadObject (Bucket.Stat)          s3:GetObject         yes (verify)  yes
#   s3 PutObject (Bucket.Put)            s3:PutObject         segments/*,   segments/*, batches/*,
#                                                             batches/*,    models/*, catalog/*,
#                                                             catalog/*,    catalog-deleted/*, checks/*
#                                                             catalog-      with If-None-Match; checks/*
#                                                             gathered/*,   with If-Match
#                                                             checks/*
#                                                             with If-None-
#                                                             Match; checks/*,
#                                                             catalog-
#                                                             gathered/*
#                                                             with If-Match
#   s3 DeleteObjects (Bucket.Delete)     s3:DeleteObject      segments/*,   manifests/* (migrate),
#                                                             batches/*,    checks/*
#                                                             catalog/*,
#                                                             catalog-deleted/*,
#                                                             checks/*
#   dynamodb GetItem (GetHead, GetPointer) dynamodb:GetItem   yes           yes
#   dynamodb PutItem (CreateHead, CreatePointer) dynamodb:PutItem yes (lease) yes
#   dynamodb UpdateItem (Claim/Release/Revive) dynamodb:UpdateItem yes      yes (Revive)
#   dynamodb DeleteItem (DeleteHead, RemoveCandidate, DeletePointer) dynamodb:DeleteItem yes pointers (id#*)
#   dynamodb Query (HasRefs, ListCandidates) dynamodb:Query   yes           no
#   dynamodb Scan (ListRefs, ListHeads, ListPointers) dynamodb:Scan yes (verify) no
#   dynamodb BatchWriteItem (AddRefs, RemoveRefs, MarkCandidates) dynamodb:BatchWriteItem yes yes
#
# The ingest function's role has the writer's grants for StoreBatch (the document store_writes,
# which the writer policy shares), its rejects reports, the inbox's deletions and the queue's
# reads; terraform/ingest_test.go holds it to its calls.
#
# HeadBucket/CreateBucket and DescribeTable/CreateTable are only sent by `stowken init`
# (location.Registry.Init), which this module replaces: neither role gets them. With kms_key_arn, both
# also get the key: for SSE-KMS objects, and through DynamoDB (kms:ViaService) for the table.

# --- The GC function ----------------------------------------------------------------------------

data "aws_iam_policy_document" "gc_assume" {
  statement {
    sid     = "LambdaAssumesRole"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "gc" {
  name               = "${var.name}-gc"
  description        = "stowken garbage collection (Lambda ${local.function_name})"
  assume_role_policy = data.aws_iam_policy_document.gc_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "gc" {
  # vault.New lists models/ and manifests/ (a store of the layout before batches is refused);
  # vault.Verify lists segments/ and batches/; the catalog's compaction lists catalog/ and
  # catalog-deleted/ (ListObjectsV2).
  statement {
    sid       = "ListStorePrefix"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [local.bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.key_prefix}*"]
    }
  }

  # Compression models when the vault opens; batch objects when GC retires a batch; batch
  # objects and segments for verify; the catalog's files for its compaction (GetObject,
  # HeadObject).
  # Accepted wildcard: every object under the store's prefix in this bucket, nothing else.
  #tfsec:ignore:aws-iam-no-policy-wildcards
  statement {
    sid       = "ReadStoreObjects"
    effect    = "Allow"
    actions   = ["s3:GetObject"]
    resources = [local.objects_arn]
  }

  # The collector deletes segment and batch objects, the catalog's compaction the files it
  # merged and the deletions it applied, and the startup probe its scratch objects
  # (DeleteObjects), nothing else.
  # Accepted wildcard: the segment, batch, catalog and probe objects under the store's prefix.
  #tfsec:ignore:aws-iam-no-policy-wildcards
  statement {
    sid       = "DeleteSegmentsAndCatalogFiles"
    effect    = "Allow"
    actions   = ["s3:DeleteObject"]
    resources = [local.segments_arn, local.batches_arn, local.catalog_arn, local.deletions_arn, local.checks_arn]
  }

  # The compaction of a batch some of whose conversations were deleted writes the packs and the
  # batch object of the batch replacing it, the catalog's compaction the merged files and the
  # gathered entries of conversations stored alone, the mark of how far it gathered them (the
  # first time), and the startup probe (before the first upload) its marker and scratch
  # objects (PutObject), all with If-None-Match: *, which S3 enforces: the collector
  # overwrites nothing.
  # Accepted wildcard: the key layout of package vault, and only with If-None-Match.
  #tfsec:ignore:aws-iam-no-policy-wildcards
  statement {
    sid       = "CreateStoreObjects"
    effect    = "Allow"
    actions   = ["s3:PutObject"]
    resources = [local.segments_arn, local.batches_arn, local.catalog_arn, local.gathered_arn, local.checks_arn]
    condition {
      test     = "Null"
      variable = "s3:if-none-match"
      values   = ["false"]
    }
  }

  # The startup probe then overwrites its scratch object, and a gathering moves its mark, with
  # If-Match (PutObject): under checks/ and catalog-gathered/ only, and only conditionally.
  # Accepted wildcard: the probe's objects and the mark, and only with If-Match.
  #tfsec:ignore:aws-iam-no-policy-wildcards
  statement {
    sid       = "ReplaceProbeObjects"
    effect    = "Allow"
    actions   = ["s3:PutObject"]
    resources = [local.checks_arn, local.gathered_arn]
    condition {
      test     = "Null"
      variable = "s3:if-match"
      values   = ["false"]
    }
  }

  # The collector side of the protocol in package refcount: ListCandidates and HasRefs (Query),
  # GetHead and GetPointer (GetItem), Claim and Release (UpdateItem), DeleteHead and
  # RemoveCandidate (DeleteItem), the GC lease's head (CreateHead: PutItem, once), RemoveRefs
  # and MarkCandidates of a retired batch (BatchWriteItem); the compaction of a batch writes
  # like a Store (AddRefs: BatchWriteItem; CreateHead: PutItem; Revive: UpdateItem) and moves
  # pointers (MovePointer: PutItem); verify's ListRefs, ListHeads and ListPointers (Scan).
  statement {
    sid    = "ReferenceTable"
    effect = "Allow"
    actions = [
      "dynamodb:BatchWriteItem",
      "dynamodb:DeleteItem",
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:Query",
      "dynamodb:Scan",
      "dynamodb:UpdateItem",
    ]
    resources = [local.table_arn]
  }

  # Accepted wildcard: the log streams of the function's own log group.
  #tfsec:ignore:aws-iam-no-policy-wildcards
  statement {
    sid       = "WriteOwnLogs"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.gc.arn}:*"]
  }

  # Reading SSE-KMS objects needs Decrypt, writing the catalog's files GenerateDataKey.
  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]
    content {
      sid       = "EncryptDecryptStoreObjects"
      effect    = "Allow"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [statement.value]
    }
  }

  # The table is encrypted with the same key: DynamoDB uses it on the caller's behalf.
  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]
    content {
      sid       = "UseTableKey"
      effect    = "Allow"
      actions   = ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"]
      resources = [statement.value]
      condition {
        test     = "StringLike"
        variable = "kms:ViaService"
        values   = ["dynamodb.*.amazonaws.com"]
      }
    }
  }
}

resource "aws_iam_role_policy" "gc" {
  name   = "${var.name}-gc"
  role   = aws_iam_role.gc.id
  policy = data.aws_iam_policy_document.gc.json
}

# --- Applications that store, retrieve, list and delete conversations ---------------------------

# What StoreBatch needs, shared by the writer policy and the ingest function's role (ingest.tf).
data "aws_iam_policy_document" "store_writes" {
  # vault.List and Stats (the catalog's files and deletions), and the model listing when a
  # vault opens (ListObjectsV2).
  statement {
    sid       = "ListStorePrefix"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [local.bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.key_prefix}*"]
    }
  }

  # Retrieve reads batch objects and segments, vault.New the compression models, List the
  # catalog's files (GetObject).
  # Accepted wildcard: every object under the store's prefix in this bucket, nothing else.
  #tfsec:ignore:aws-iam-no-policy-wildcards
  statement {
    sid       = "ReadStoreObjects"
    effect    = "Allow"
    actions   = ["s3:GetObject"]
    resources = [local.objects_arn]
  }

  # Store uploads segments, batch objects, compression models and the catalog's files with
  # If-None-Match: * (PutObject), which S3 refuses when the key exists. S3 enforces it: a
  # PutObject without the header lacks the s3:if-none-match condition key and is denied, so no
  # application can overwrite an object that other conversations share. The startup probe
  # writes its marker and its scratch objects under checks/ the same way first.
  # Accepted wildcard: the key layout of package vault, and only with If-None-Match.
  #tfsec:ignore:aws-iam-no-policy-wildcards
  statement {
    sid       = "CreateStoreObjects"
    effect    = "Allow"
    actions   = ["s3:PutObject"]
    resources = [local.segments_arn, local.batches_arn, local.models_arn, local.catalog_arn, local.checks_arn]
    condition {
      test     = "Null"
      variable = "s3:if-none-match"
      values   = ["false"]
    }
  }

  # The startup probe then overwrites its scratch object with If-Match (PutObject): under
  # checks/ only, and only conditionally.
  # Accepted wildcard: the probe's objects under checks/, and only with If-Match.
  #tfsec:ignore:aws-iam-no-policy-wildcards
  statement {
    sid       = "ReplaceProbeObjects"
    effect    = "Allow"
    actions   = ["s3:PutObject"]
    resources = [local.checks_arn]
    condition {
      test     = "Null"
      variable = "s3:if-match"
      values   = ["false"]
    }
  }

  # The writer side of the protocol: AddRefs, RemoveRefs and MarkCandidates (BatchWriteItem),
  # GetHead and GetPointer (GetItem), CreateHead and CreatePointer (PutItem), Revive
  # (UpdateItem).
  statement {
    sid    = "ReferenceTable"
    effect = "Allow"
    actions = [
      "dynamodb:BatchWriteItem",
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:UpdateItem",
    ]
    resources = [local.table_arn]
  }

  # Writing SSE-KMS objects needs GenerateDataKey, reading them Decrypt.
  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]
    content {
      sid       = "EncryptDecryptStoreObjects"
      effect    = "Allow"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [statement.value]
    }
  }

  # The table is encrypted with the same key: DynamoDB uses it on the caller's behalf.
  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]
    content {
      sid       = "UseTableKey"
      effect    = "Allow"
      actions   = ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"]
      resources = [statement.value]
      condition {
        test     = "StringLike"
        variable = "kms:ViaService"
        values   = ["dynamodb.*.amazonaws.com"]
      }
    }
  }
}

data "aws_iam_policy_document" "writer" {
  source_policy_documents = [data.aws_iam_policy_document.store_writes.json]

  # Delete writes the catalog's deletion of the conversation, with If-None-Match: * as every
  # write of the store.
  # Accepted wildcard: the catalog's deletions, and only with If-None-Match.
  #tfsec:ignore:aws-iam-no-policy-wildcards
  statement {
    sid       = "CreateCatalogDeletions"
    effect    = "Allow"
    actions   = ["s3:PutObject"]
    resources = [local.deletions_arn]
    condition {
      test     = "Null"
      variable = "s3:if-none-match"
      values   = ["false"]
    }
  }

  # stowken migrate removes the manifests of the layout before batches; the startup probe
  # removes its scratch objects (DeleteObjects). Segment and batch objects are deleted only by
  # the collector, after it won the claim: applications must never delete them.
  # Accepted wildcard: old manifests and the probe's objects, never a segment.
  #tfsec:ignore:aws-iam-no-policy-wildcards
  statement {
    sid       = "DeleteManifestsAndProbeObjects"
    effect    = "Allow"
    actions   = ["s3:DeleteObject"]
    resources = [local.manifests_arn, local.checks_arn]
  }

  # vault.Delete deletes the conversation's pointer (DeleteItem), and no other item: the
  # partition keys it may delete are the pointers' (id#...). References and heads are the
  # collector's to delete.
  statement {
    sid       = "DeletePointers"
    effect    = "Allow"
    actions   = ["dynamodb:DeleteItem"]
    resources = [local.table_arn]
    condition {
      test     = "ForAllValues:StringLike"
      variable = "dynamodb:LeadingKeys"
      values   = ["id#*"]
    }
  }
}

resource "aws_iam_policy" "writer" {
  name        = "${var.name}-writer"
  description = "stowken: store, retrieve, list and delete conversations in s3://${aws_s3_bucket.this.id}/${local.key_prefix} (no deletion of segments: that is the GC function's job)"
  policy      = data.aws_iam_policy_document.writer.json
  tags        = var.tags
}

# --- The ingest function (ingest.tf): what StoreBatch needs, and the inbox ------------------------

resource "aws_iam_role" "ingest" {
  name               = "${var.name}-ingest"
  description        = "stowken ingest (Lambda ${local.ingest_function_name})"
  assume_role_policy = data.aws_iam_policy_document.gc_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "ingest" {
  # What StoreBatch needs (iam.tf): listing, reading, uploading, the probe, the references.
  source_policy_documents = [data.aws_iam_policy_document.store_writes.json]

  # The reports of rejected lines and copies of damaged objects, with If-None-Match: *.
  # Accepted wildcard: the rejects under the store's prefix, and only with If-None-Match.
  #tfsec:ignore:aws-iam-no-policy-wildcards
  statement {
    sid       = "CreateRejectsReports"
    effect    = "Allow"
    actions   = ["s3:PutObject"]
    resources = [local.rejects_arn]
    condition {
      test     = "Null"
      variable = "s3:if-none-match"
      values   = ["false"]
    }
  }

  # The inbox objects once stored, and the probe's scratch objects (DeleteObjects).
  # Accepted wildcard: the inbox and the probe's objects, never a segment.
  #tfsec:ignore:aws-iam-no-policy-wildcards
  statement {
    sid       = "DeleteInboxObjects"
    effect    = "Allow"
    actions   = ["s3:DeleteObject"]
    resources = [local.inbox_arn, local.checks_arn]
  }

  # The event source mapping reads the queue with the function's role.
  dynamic "statement" {
    for_each = aws_sqs_queue.ingest
    content {
      sid       = "ReadQueue"
      effect    = "Allow"
      actions   = ["sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"]
      resources = [statement.value.arn]
    }
  }

  # Accepted wildcard: the log streams of the function's own log group.
  #tfsec:ignore:aws-iam-no-policy-wildcards
  statement {
    sid       = "WriteOwnLogs"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.ingest.arn}:*"]
  }
}

resource "aws_iam_role_policy" "ingest" {
  name   = "${var.name}-ingest"
  role   = aws_iam_role.ingest.id
  policy = data.aws_iam_policy_document.ingest.json
}

# --- EventBridge Scheduler ----------------------------------------------------------------------

data "aws_iam_policy_document" "scheduler_assume" {
  statement {
    sid     = "SchedulerAssumesRole"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "scheduler" {
  name               = "${var.name}-gc-scheduler"
  description        = "EventBridge Scheduler: invokes the stowken GC function ${local.function_name}"
  assume_role_policy = data.aws_iam_policy_document.scheduler_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "scheduler" {
  # Accepted wildcard: the versions and aliases of this one function.
  #tfsec:ignore:aws-iam-no-policy-wildcards
  statement {
    sid       = "InvokeGCFunction"
    effect    = "Allow"
    actions   = ["lambda:InvokeFunction"]
    resources = [aws_lambda_function.gc.arn, "${aws_lambda_function.gc.arn}:*"]
  }
}

resource "aws_iam_role_policy" "scheduler" {
  name   = "${var.name}-gc-scheduler"
  role   = aws_iam_role.scheduler.id
  policy = data.aws_iam_policy_document.scheduler.json
}
