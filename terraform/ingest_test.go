package terraform_test

import (
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stowken/stowken/ingest"
)

// Resources of the ingest function's grants (locals of main.tf).
const (
	resInbox       = "local.inbox_arn"        // objects waiting for the ingest function
	resRejects     = "local.rejects_arn"      // its reports of rejected lines
	resInboxErrors = "local.inbox_errors_arn" // what the delivery stream failed to deliver
)

// ingestCalls are the SDK calls of the ingest function (lambda/ingest: package ingest, and the
// vault's StoreBatch), by the method of sdkCalls that makes them, and what each touches.
var ingestCalls = []struct {
	Pkg, Method string
	Resources   []string
	Why         string
}{
	{"objstore/s3", "NewListObjectsV2Paginator", []string{resBucket}, "vault.New lists models/ and manifests/"},
	{"objstore/s3", "GetObject", []string{resObjects}, "ingest.Inbox reads the inbox object; the vault its models, and the stored copy of a conversation it finds stored"},
	{"objstore/s3", "PutObject", []string{resSegments, resBatches, resModels, resCatalog, resChecks, resRejects},
		"StoreBatch's uploads and catalog file, the conditional-write probe, and ingest.Inbox's rejects reports and copies"},
	{"objstore/s3", "DeleteObjects", []string{resInbox, resChecks}, "ingest.Inbox deletes the inbox object once stored; the probe its scratch objects"},
	{"refcount/dynamodb", "GetItem", []string{resTable}, "GetHead, GetPointer"},
	{"refcount/dynamodb", "PutItem", []string{resTable}, "CreateHead, CreatePointer"},
	{"refcount/dynamodb", "UpdateItem", []string{resTable}, "Revive"},
	{"refcount/dynamodb", "BatchWriteItem", []string{resTable}, "AddRefs, RemoveRefs and MarkCandidates of a failed store"},
}

// TestIngestRoleGrantsWhatTheCodeCalls: the ingest function's role allows exactly the S3 and
// DynamoDB actions of its calls, on what they touch, the queue's reads for its event source
// mapping, and its own logs.
func TestIngestRoleGrantsWhatTheCodeCalls(t *testing.T) {
	mod := loadConfig(t, moduleDir)
	sts := policyStatements(t, mod, "ingest")
	need := map[string][]string{}
	for _, c := range ingestCalls {
		i := slices.IndexFunc(sdkCalls, func(s sdkCall) bool { return s.Pkg == c.Pkg && s.Method == c.Method })
		if i < 0 {
			t.Fatalf("ingestCalls lists %s %s, which sdkCalls does not", c.Pkg, c.Method)
		}
		for _, r := range c.Resources {
			if a := sdkCalls[i].Action; !slices.Contains(need[a], r) {
				need[a] = append(need[a], r)
			}
		}
	}
	for a := range need {
		sort.Strings(need[a])
	}
	diffGrants(t, "the ingest role", need, grants(sts, "s3", "dynamodb"))
	checkListCondition(t, sts)
	checkKMS(t, sts, map[string][]string{"": {"kms:Decrypt", "kms:GenerateDataKey"}, dynamoDBViaService: tableKMSActions})
	checkConditionalPuts(t, sts, map[string][]string{
		"s3:if-none-match": {resBatches, resCatalog, resChecks, resModels, resRejects, resSegments},
		"s3:if-match":      {resChecks},
	})
	want := map[string][]string{
		"sqs:DeleteMessage":      {"statement.value.arn"},
		"sqs:GetQueueAttributes": {"statement.value.arn"},
		"sqs:ReceiveMessage":     {"statement.value.arn"},
		"logs:CreateLogStream":   {`"${aws_cloudwatch_log_group.ingest.arn}:*"`},
		"logs:PutLogEvents":      {`"${aws_cloudwatch_log_group.ingest.arn}:*"`},
	}
	if got := grants(sts, "sqs", "logs", "firehose", "lambda"); !mapsEqual(got, want) {
		t.Errorf("the ingest role grants %v, want %v", got, want)
	}
	for _, st := range sts {
		if slices.Contains(st.Actions, "sqs:ReceiveMessage") && st.Dynamic != "aws_sqs_queue.ingest" {
			t.Errorf("the queue's reads are granted for %q, want the ingest queue", st.Dynamic)
		}
	}
	if got := mod.one(t, "resource", "aws_lambda_function", "ingest").attrSrc("role"); got != "aws_iam_role.ingest.arn" {
		t.Errorf("the ingest function runs as %s", got)
	}
}

// TestIngestRoutes: the inbox notification, the queue and its mapping, and the delivery stream
// deliver to what package ingest reads.
func TestIngestRoutes(t *testing.T) {
	mod := loadConfig(t, moduleDir)
	inbox := `"${local.key_prefix}` + ingest.InboxPrefix + `"`

	n := mod.one(t, "resource", "aws_s3_bucket_notification", "inbox").child(t, "lambda_function")
	if got := n.attrSrc("filter_prefix"); got != inbox {
		t.Errorf("the notification's filter_prefix is %s, want %s", got, inbox)
	}
	if got := n.attrSrc("lambda_function_arn"); got != "aws_lambda_function.ingest.arn" {
		t.Errorf("the notification invokes %s", got)
	}
	if got := literalStrings(t, n, n.mustAttr(t, "events").Expr); !slices.Equal(got, []string{"s3:ObjectCreated:*"}) {
		t.Errorf("the notification's events %v", got)
	}
	perm := mod.one(t, "resource", "aws_lambda_permission", "inbox")
	if literalString(t, perm, "principal") != "s3.amazonaws.com" || perm.attrSrc("source_arn") != "aws_s3_bucket.this.arn" {
		t.Errorf("the function may be invoked by %s from %s, want S3 for this bucket", perm.attrSrc("principal"), perm.attrSrc("source_arn"))
	}

	q := mod.one(t, "resource", "aws_sqs_queue", "ingest")
	if got := q.attrSrc("max_message_size"); got != strconv.Itoa(ingest.MaxSQSMessage) {
		t.Errorf("the queue's max_message_size is %s, want ingest.MaxSQSMessage (%d)", got, ingest.MaxSQSMessage)
	}
	if got := q.attrSrc("redrive_policy"); !strings.Contains(got, "aws_sqs_queue.ingest_dead_letters[0].arn") || !strings.Contains(got, "var.ingest_max_receive_count") {
		t.Errorf("the queue's redrive policy %s", got)
	}
	for _, name := range []string{"ingest", "ingest_dead_letters"} {
		q := mod.one(t, "resource", "aws_sqs_queue", name)
		if q.attrSrc("kms_master_key_id") != "var.kms_key_arn" || q.attrSrc("sqs_managed_sse_enabled") != "var.kms_key_arn == null ? true : null" {
			t.Errorf("queue %s is not encrypted with the store's key, or SQS's own", name)
		}
	}
	esm := mod.one(t, "resource", "aws_lambda_event_source_mapping", "ingest")
	if got := literalStrings(t, esm, esm.mustAttr(t, "function_response_types").Expr); !slices.Equal(got, []string{"ReportBatchItemFailures"}) {
		t.Errorf("function_response_types %v: lambda/ingest reports the messages that failed", got)
	}
	if esm.attrSrc("event_source_arn") != "aws_sqs_queue.ingest[0].arn" || esm.attrSrc("function_name") != "aws_lambda_function.ingest.arn" ||
		esm.attrSrc("batch_size") != "var.ingest_batch_size" || esm.child(t, "scaling_config").attrSrc("maximum_concurrency") != "var.ingest_max_concurrency" {
		t.Errorf("the event source mapping: %s → %s, batch %s", esm.attrSrc("event_source_arn"), esm.attrSrc("function_name"), esm.attrSrc("batch_size"))
	}

	fh := mod.one(t, "resource", "aws_kinesis_firehose_delivery_stream", "ingest").child(t, "extended_s3_configuration")
	if got := fh.attrSrc("prefix"); got != inbox {
		t.Errorf("the delivery stream writes to %s, want %s", got, inbox)
	}
	if got := fh.attrSrc("error_output_prefix"); strings.HasPrefix(got, inbox[:len(inbox)-1]) {
		t.Errorf("the delivery stream's errors go to %s, under the inbox: the function would take them for lines", got)
	}
	if literalString(t, fh, "compression_format") != "GZIP" {
		t.Errorf("the delivery stream writes %s, want GZIP (package ingest reads gzip)", fh.attrSrc("compression_format"))
	}

	// Producers: the inbox (with If-None-Match), the queue, the stream; nothing else.
	sts := policyStatements(t, mod, "producer")
	checkConditionalPuts(t, sts, map[string][]string{"s3:if-none-match": {resInbox}})
	want := map[string][]string{
		"s3:PutObject":            {resInbox},
		"sqs:SendMessage":         {"statement.value.arn"},
		"firehose:PutRecord":      {"statement.value.arn"},
		"firehose:PutRecordBatch": {"statement.value.arn"},
	}
	if got := grants(sts, "s3", "sqs", "firehose", "dynamodb", "lambda"); !mapsEqual(got, want) {
		t.Errorf("the producer policy grants %v, want %v", got, want)
	}
	for _, out := range []string{"producer_policy_arn", "ingest_queue_url", "ingest_dead_letter_queue_url", "ingest_delivery_stream_name", "inbox_url"} {
		mod.one(t, "output", out)
	}
	// The delivery stream writes the inbox and its error prefix, nothing else of the store.
	fsts := policyStatements(t, mod, "firehose")
	if got := grants(fsts, "s3")["s3:PutObject"]; !slices.Equal(got, []string{resInbox, resInboxErrors}) {
		t.Errorf("the delivery stream may put %v, want the inbox and its error prefix", got)
	}
}

// TestIngestScopes: the inbox locals are package ingest's prefixes.
func TestIngestScopes(t *testing.T) {
	locals := loadConfig(t, moduleDir).locals(t)
	for k, v := range map[string]string{
		"inbox_arn":   `"${aws_s3_bucket.this.arn}/${local.key_prefix}` + ingest.InboxPrefix + `*"`,
		"rejects_arn": `"${aws_s3_bucket.this.arn}/${local.key_prefix}` + ingest.RejectsPrefix + `*"`,
	} {
		if locals[k] != v {
			t.Errorf("local %s = %s, want %s", k, locals[k], v)
		}
	}
}

// TestInboxAgeAlarm: the alarm reads the line the GC function logs about the inbox.
func TestInboxAgeAlarm(t *testing.T) {
	mod := loadConfig(t, moduleDir)
	f := mod.one(t, "resource", "aws_cloudwatch_log_metric_filter", "inbox_oldest")
	if got := literalString(t, f, "pattern"); got != `{ $.msg = "inbox" }` {
		t.Errorf("pattern %s", got)
	}
	if got := literalString(t, f.child(t, "metric_transformation"), "value"); got != "$.oldest_seconds" {
		t.Errorf("value %s", got)
	}
	if f.attrSrc("log_group_name") != "aws_cloudwatch_log_group.gc.name" {
		t.Errorf("the inbox filter reads %s, want the GC function's log group", f.attrSrc("log_group_name"))
	}
	if call := logCall(t, "lambda/gc/handler.go", `log.Info("inbox"`); !strings.Contains(call, `"oldest_seconds"`) {
		t.Errorf("lambda/gc logs %s, without oldest_seconds", call)
	}
}
