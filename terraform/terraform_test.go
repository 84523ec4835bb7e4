// Package terraform_test checks the Terraform module in modules/stowken and the example in
// examples/complete against the Go code they deploy: the DynamoDB key schema of
// internal/ddbtable, the Glue table over the catalog's files (catalog/parquet), the Lambda
// build of the Makefile, the environment lambda/gc reads, the log fields the alarms match, and
// the IAM actions behind every AWS SDK call of objstore/s3 and refcount/dynamodb. Nothing here needs terraform or a provider: the
// files are parsed with github.com/hashicorp/hcl/v2.
package terraform_test

import (
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/stowken/stowken/catalog"
	catparquet "github.com/stowken/stowken/catalog/parquet"
	"github.com/stowken/stowken/cost"
	"github.com/stowken/stowken/internal/ddbtable"
)

// repoRoot is the repository root, relative to this package.
const repoRoot = ".."

func readRepoFile(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// --- DynamoDB ----------------------------------------------------------------------------------

// TestTableMatchesGoSchema: the table Terraform creates is exactly internal/ddbtable.TableSchema().
func TestTableMatchesGoSchema(t *testing.T) {
	mod := loadConfig(t, moduleDir)
	sc := ddbtable.TableSchema()
	tables := mod.blocks("resource", "aws_dynamodb_table")
	if len(tables) != 1 {
		t.Fatalf("%d DynamoDB tables in the module, want 1", len(tables))
	}
	tbl := tables[0]

	if got := literalString(t, tbl, "hash_key"); got != sc.PartitionKey.Name {
		t.Errorf("hash_key %q, want %q (refcount/dynamodb)", got, sc.PartitionKey.Name)
	}
	if got := literalString(t, tbl, "range_key"); got != sc.SortKey.Name {
		t.Errorf("range_key %q, want %q (refcount/dynamodb)", got, sc.SortKey.Name)
	}
	if got := literalString(t, tbl, "billing_mode"); got != sc.BillingMode {
		t.Errorf("billing_mode %q, want %q (refcount/dynamodb)", got, sc.BillingMode)
	}
	// The table class is the module's variable, whose values are the classes package cost
	// prices, Standard by default.
	if got := tbl.attrSrc("table_class"); got != "var.table_class" {
		t.Errorf("table_class = %s, want var.table_class", got)
	}
	if got := mod.variableDefault(t, "table_class"); got.AsString() != cost.DefaultTableClass {
		t.Errorf("table_class defaults to %s, want %s", got.GoString(), cost.DefaultTableClass)
	}
	cond := mod.one(t, "variable", "table_class").child(t, "validation").attrSrc("condition")
	for _, class := range []string{cost.TableClassStandard, cost.TableClassStandardIA} {
		if !strings.Contains(cond, strconv.Quote(class)) {
			t.Errorf("table_class's validation %s does not allow %s", cond, class)
		}
	}
	// DynamoDB declares only the table's key attributes (ItemAttributes are documentation).
	var want, got []string
	for _, a := range sc.KeyAttributes() {
		want = append(want, a.Name+":"+a.Type)
	}
	for _, a := range tbl.children("attribute") {
		got = append(got, literalString(t, a, "name")+":"+literalString(t, a, "type"))
	}
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("attributes %v, want exactly %v", got, want)
	}
	// No index: the catalog is in the bucket.
	for _, kind := range []string{"global_secondary_index", "local_secondary_index"} {
		if n := len(tbl.children(kind)); n != 0 {
			t.Errorf("the table has %d %s blocks; the Go code uses none", n, kind)
		}
	}
	if !literalBool(t, tbl.child(t, "point_in_time_recovery"), "enabled") {
		t.Error("point_in_time_recovery is not enabled")
	}
	if !literalBool(t, tbl, "deletion_protection_enabled") {
		t.Error("deletion_protection_enabled is not true")
	}
	for _, a := range []string{"stream_enabled", "ttl"} {
		if tbl.attr(a) != nil || len(tbl.children(a)) > 0 {
			t.Errorf("the table sets %s, which the Go code does not use", a)
		}
	}
	// The bucket's customer-managed key encrypts the table too (the GC role and the writer
	// policy may use it through DynamoDB: iam_test.go).
	sse := tbl.child(t, "server_side_encryption")
	if got := sse.attrSrc("enabled"); got != "var.kms_key_arn != null" {
		t.Errorf("the table's server_side_encryption enabled = %s, want var.kms_key_arn != null", got)
	}
	if got := sse.attrSrc("kms_key_arn"); got != "var.kms_key_arn" {
		t.Errorf("the table's server_side_encryption kms_key_arn = %s, want var.kms_key_arn (the bucket's key)", got)
	}
}

// --- S3 ------------------------------------------------------------------------------------------

func TestBucket(t *testing.T) {
	mod := loadConfig(t, moduleDir)

	pab := mod.one(t, "resource", "aws_s3_bucket_public_access_block")
	for _, a := range []string{"block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"} {
		if !literalBool(t, pab, a) {
			t.Errorf("public access block: %s is not true", a)
		}
	}

	sse := mod.one(t, "resource", "aws_s3_bucket_server_side_encryption_configuration")
	def := sse.child(t, "rule").child(t, "apply_server_side_encryption_by_default")
	if got := def.attrSrc("sse_algorithm"); got != `var.kms_key_arn == null ? "AES256" : "aws:kms"` {
		t.Errorf("sse_algorithm = %s, want SSE-S3 unless kms_key_arn is given", got)
	}
	if got := def.attrSrc("kms_master_key_id"); got != "var.kms_key_arn" {
		t.Errorf("kms_master_key_id = %s, want var.kms_key_arn", got)
	}
	if v := mod.variableDefault(t, "kms_key_arn"); !v.IsNull() {
		t.Errorf("kms_key_arn defaults to %s, want null (SSE-S3)", v.GoString())
	}

	// Only TLS: the bucket policy denies every request without it, to everyone.
	pol := mod.one(t, "resource", "aws_s3_bucket_policy")
	if pol.attrSrc("bucket") != "aws_s3_bucket.this.id" || pol.attrSrc("policy") != "data.aws_iam_policy_document.bucket.json" {
		t.Errorf("the bucket policy is %s on %s", pol.attrSrc("policy"), pol.attrSrc("bucket"))
	}
	tls := false
	for _, st := range policyStatements(t, mod, "bucket") {
		if st.Effect != "Deny" {
			continue
		}
		p := st.Block.child(t, "principals")
		if !slices.Equal(st.Actions, []string{"s3:*"}) || !slices.Equal(st.Resources, []string{"local.bucket_arn", `"${local.bucket_arn}/*"`}) ||
			literalString(t, p, "type") != "*" || !slices.Equal(literalStrings(t, p, p.mustAttr(t, "identifiers").Expr), []string{"*"}) ||
			len(st.Conditions) != 1 {
			continue
		}
		c := st.Conditions[0]
		tls = tls || literalString(t, c, "test") == "Bool" && literalString(t, c, "variable") == "aws:SecureTransport" &&
			slices.Equal(literalStrings(t, c, c.mustAttr(t, "values").Expr), []string{"false"})
	}
	if !tls {
		t.Error("the bucket policy has no statement that denies s3:* on the bucket and its objects to everyone when aws:SecureTransport is false")
	}

	// Server access logging, when access_log_bucket is set.
	lg := mod.one(t, "resource", "aws_s3_bucket_logging")
	if lg.attrSrc("count") != "var.access_log_bucket == null ? 0 : 1" || lg.attrSrc("bucket") != "aws_s3_bucket.this.id" ||
		lg.attrSrc("target_bucket") != "var.access_log_bucket" {
		t.Errorf("access logging: count %s, bucket %s, target %s; want this bucket's logs in var.access_log_bucket when it is set",
			lg.attrSrc("count"), lg.attrSrc("bucket"), lg.attrSrc("target_bucket"))
	}
	if v := mod.variableDefault(t, "access_log_bucket"); !v.IsNull() {
		t.Errorf("access_log_bucket defaults to %s, want null (no logging)", v.GoString())
	}

	ver := mod.one(t, "resource", "aws_s3_bucket_versioning").child(t, "versioning_configuration")
	if got := literalString(t, ver, "status"); got != "Enabled" {
		t.Errorf("versioning status %q, want Enabled", got)
	}

	lc := mod.one(t, "resource", "aws_s3_bucket_lifecycle_configuration")
	var noncurrent, multipart bool
	for _, r := range lc.children("rule") {
		if literalString(t, r, "status") != "Enabled" {
			continue
		}
		for _, nve := range r.children("noncurrent_version_expiration") {
			noncurrent = nve.attrSrc("noncurrent_days") == "var.noncurrent_version_expiration_days"
		}
		for _, ab := range r.children("abort_incomplete_multipart_upload") {
			multipart = ab.attrSrc("days_after_initiation") == "var.abort_incomplete_multipart_upload_days"
		}
	}
	if !noncurrent || !multipart {
		t.Errorf("lifecycle rules: noncurrent-version expiry %v, abort incomplete multipart uploads %v; want both", noncurrent, multipart)
	}
	for name, want := range map[string]int64{"noncurrent_version_expiration_days": 30, "abort_incomplete_multipart_upload_days": 7} {
		if v := mod.variableDefault(t, name); v.Type() != cty.Number || !v.Equals(cty.NumberIntVal(want)).True() {
			t.Errorf("variable %s defaults to %s, want %d", name, v.GoString(), want)
		}
	}
}

// --- The Lambda and the Makefile ------------------------------------------------------------------

// lambdaArchToGOARCH maps Lambda architectures to the GOARCH `make lambda` builds for them.
var lambdaArchToGOARCH = map[string]string{"arm64": "arm64", "x86_64": "amd64"}

// makeTarget returns the recipe of a Makefile target, continuation lines joined, and the
// Makefile's variable assignments.
func makeTarget(t *testing.T, target string) (recipe string, vars map[string]string) {
	t.Helper()
	mk := readRepoFile(t, "Makefile")
	mk = strings.ReplaceAll(mk, "\\\n", " ")
	vars = map[string]string{}
	varRE := regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)\s*[?:]?=\s*(.*)$`)
	lines := strings.Split(mk, "\n")
	found := false
	for i, line := range lines {
		if m := varRE.FindStringSubmatch(line); m != nil {
			vars[m[1]] = strings.TrimSpace(m[2])
		}
		if strings.HasPrefix(line, target+":") {
			found = true
			var sb strings.Builder
			for _, r := range lines[i+1:] {
				if !strings.HasPrefix(r, "\t") {
					break
				}
				sb.WriteString(r)
				sb.WriteByte('\n')
			}
			recipe = sb.String()
		}
	}
	if !found {
		t.Fatalf("the Makefile has no %q target", target)
	}
	return recipe, vars
}

// TestLambdaMatchesMakefile: the function's runtime, handler and architectures are what
// `make lambda` builds, and the example's zip path is where it puts the package.
func TestLambdaMatchesMakefile(t *testing.T) {
	mod := loadConfig(t, moduleDir)
	if fns := mod.blocks("resource", "aws_lambda_function"); len(fns) != 2 {
		t.Fatalf("%d Lambda functions, want 2 (gc, ingest)", len(fns))
	}
	recipe, vars := makeTarget(t, "lambda")
	compact := strings.Join(strings.Fields(recipe), " ")
	ex := loadConfig(t, exampleDir)
	for _, f := range []struct {
		name, pkg, dir, zip, zipVar, timeoutVar, memoryVar string
		timeout, memory                                    int64
	}{
		{"gc", "./lambda/gc", "lambda", "stowken-gc", "lambda_zip_path", "lambda_timeout", "lambda_memory_size", 900, 512},
		{"ingest", "./lambda/ingest", "ingest", "stowken-ingest", "ingest_lambda_zip_path", "ingest_timeout", "ingest_memory_size", 300, 1024},
	} {
		fn := mod.one(t, "resource", "aws_lambda_function", f.name)
		runtime := literalString(t, fn, "runtime")
		handler := literalString(t, fn, "handler")
		if runtime != "provided.al2023" {
			t.Errorf("%s: runtime %q, want provided.al2023 (the OS-only runtime for Go)", f.name, runtime)
		}
		// The OS-only runtimes run the executable named bootstrap; the handler names it.
		if handler != "bootstrap" {
			t.Errorf("%s: handler %q, want bootstrap", f.name, handler)
		}
		for _, want := range []string{
			"GOOS=linux", "GOARCH=$$arch", "CGO_ENABLED=0", "-tags lambda.norpc",
			"-o dist/" + f.dir + "-$$arch/" + handler + " " + f.pkg,
			"-o dist/" + f.zip + "-$$arch.zip dist/" + f.dir + "-$$arch/" + handler,
		} {
			if !strings.Contains(compact, want) {
				t.Errorf("the lambda target does not contain %q:\n%s", want, recipe)
			}
		}
		if _, err := os.Stat(filepath.Join(repoRoot, f.pkg, "main.go")); err != nil {
			t.Errorf("the function's main package is gone: %v", err)
		}
		built := strings.Fields(vars["LAMBDA_ARCHS"])
		archs := literalStrings(t, fn, fn.mustAttr(t, "architectures").Expr)
		if !slices.Equal(archs, []string{"arm64"}) {
			t.Errorf("%s: architectures %v, want [arm64]", f.name, archs)
		}
		for _, a := range archs {
			if goarch, ok := lambdaArchToGOARCH[a]; !ok || !slices.Contains(built, goarch) {
				t.Errorf("%s: architecture %s: `make lambda` builds %v (LAMBDA_ARCHS)", f.name, a, built)
			}
		}
		if got := fn.attrSrc("filename"); got != "var."+f.zipVar {
			t.Errorf("%s: filename = %s, want var.%s", f.name, got, f.zipVar)
		}
		if got := fn.attrSrc("source_code_hash"); got != "filebase64sha256(var."+f.zipVar+")" {
			t.Errorf("%s: source_code_hash = %s, want filebase64sha256(var.%s)", f.name, got, f.zipVar)
		}
		if got := fn.attrSrc("timeout"); got != "var."+f.timeoutVar {
			t.Errorf("%s: timeout = %s", f.name, got)
		}
		if got := fn.attrSrc("memory_size"); got != "var."+f.memoryVar {
			t.Errorf("%s: memory_size = %s", f.name, got)
		}
		for name, want := range map[string]int64{f.timeoutVar: f.timeout, f.memoryVar: f.memory} {
			if v := mod.variableDefault(t, name); !v.Equals(cty.NumberIntVal(want)).True() {
				t.Errorf("variable %s defaults to %s, want %d", name, v.GoString(), want)
			}
		}

		// The example's default zip path, from its directory, is the arm64 package of `make lambda`.
		zip := ex.variableDefault(t, f.zipVar).AsString()
		if got, want := path.Join("terraform", exampleDir, zip), "dist/"+f.zip+"-"+lambdaArchToGOARCH[archs[0]]+".zip"; got != want {
			t.Errorf("the example's %s %q resolves to %s, `make lambda` writes %s", f.zipVar, zip, got, want)
		}
		if got := ex.one(t, "module", "stowken").attrSrc(f.zipVar); got != "var."+f.zipVar {
			t.Errorf("the example passes %s = %s", f.zipVar, got)
		}
	}
}

// TestLambdaEnvironment: the function gets exactly the variables lambda/gc reads, with the
// store and table this module creates.
func TestLambdaEnvironment(t *testing.T) {
	mod := loadConfig(t, moduleDir)
	for name, want := range map[string]map[string]string{
		"gc": {
			"STOWKEN_STORE":      "local.store_url",
			"STOWKEN_REFS":       "local.refs_url",
			"STOWKEN_GC_GRACE":   "var.gc_grace",
			"STOWKEN_GC_BUDGET":  "tostring(var.gc_budget)",
			"STOWKEN_GC_DRY_RUN": "tostring(var.gc_dry_run)",
			"STOWKEN_SKETCHES":   "tostring(var.sketches)",
		},
		"ingest": {
			"STOWKEN_STORE":    "local.store_url",
			"STOWKEN_REFS":     "local.refs_url",
			"STOWKEN_SKETCHES": "tostring(var.sketches)",
		},
	} {
		fn := mod.one(t, "resource", "aws_lambda_function", name)
		env := objectItems(t, fn, fn.child(t, "environment").mustAttr(t, "variables").Expr)
		for k, v := range want {
			if env[k] != v {
				t.Errorf("%s: environment %s = %q, want %s", name, k, env[k], v)
			}
		}
		var goSrc strings.Builder
		files, _ := filepath.Glob(filepath.Join(repoRoot, "lambda", name, "*.go"))
		for _, f := range files {
			if !strings.HasSuffix(f, "_test.go") {
				b, _ := os.ReadFile(f)
				goSrc.Write(b)
			}
		}
		for k := range env {
			if _, ok := want[k]; !ok {
				t.Errorf("%s: unexpected environment variable %s", name, k)
			}
			if !strings.Contains(goSrc.String(), `"`+k+`"`) {
				t.Errorf("lambda/%s does not read %s", name, k)
			}
		}
	}
	locals := mod.locals(t)
	if got := locals["store_url"]; got != `"s3://${aws_s3_bucket.this.id}/${var.prefix}"` {
		t.Errorf("store_url = %s, want s3://BUCKET/PREFIX of this module's bucket", got)
	}
	if got := locals["refs_url"]; got != `"dynamodb://${aws_dynamodb_table.this.name}"` {
		t.Errorf("refs_url = %s, want dynamodb://TABLE of this module's table", got)
	}

	// gc_grace: its default is a valid Go duration, and its validation regex accepts exactly
	// what time.ParseDuration accepts (for the non-negative values tried here).
	if d := mod.variableDefault(t, "gc_grace").AsString(); d != "24h" {
		t.Errorf("gc_grace defaults to %q, want 24h", d)
	}
	grace := mod.one(t, "variable", "gc_grace")
	re := regexp.MustCompile(regexArg(t, grace, grace.child(t, "validation").mustAttr(t, "condition").Expr))
	for _, s := range []string{"24h", "0s", "1h30m", "1.5h", "90m", "500ms", "10us", "1d", "24", "-1h", "h", "1h ", ""} {
		_, err := time.ParseDuration(s)
		if goOK := err == nil && !strings.HasPrefix(s, "-") && s != "0"; re.MatchString(s) != goOK {
			t.Errorf("gc_grace %q: the validation regex says %v, time.ParseDuration %v", s, re.MatchString(s), err)
		}
	}
}

// regexArg returns the pattern of the first regex(...) call in e.
func regexArg(t *testing.T, b block, e hclsyntax.Expression) string {
	t.Helper()
	var pattern string
	hclsyntax.VisitAll(e, func(n hclsyntax.Node) hcl.Diagnostics {
		if call, ok := n.(*hclsyntax.FunctionCallExpr); ok && call.Name == "regex" && pattern == "" {
			v := literal(t, b, call.Args[0])
			pattern = v.AsString()
		}
		return nil
	})
	if pattern == "" {
		t.Fatalf("%s: no regex() in %s", b.name(), b.src(e))
	}
	return pattern
}

// --- Schedule ------------------------------------------------------------------------------------

func TestSchedule(t *testing.T) {
	mod := loadConfig(t, moduleDir)
	s := mod.one(t, "resource", "aws_scheduler_schedule", "gc")
	if got := s.attrSrc("schedule_expression"); got != "var.schedule_expression" {
		t.Errorf("schedule_expression = %s", got)
	}
	if v := mod.variableDefault(t, "schedule_expression"); v.AsString() != "rate(1 hour)" {
		t.Errorf("schedule_expression defaults to %s", v.GoString())
	}
	for _, name := range []string{"gc", "verify"} {
		tg := mod.one(t, "resource", "aws_scheduler_schedule", name).child(t, "target")
		if got := tg.attrSrc("arn"); got != "aws_lambda_function.gc.arn" {
			t.Errorf("schedule %s targets %s", name, got)
		}
		if got := tg.attrSrc("role_arn"); got != "aws_iam_role.scheduler.arn" {
			t.Errorf("schedule %s assumes %s", name, got)
		}
		if got := tg.attrSrc("input"); got != fmt.Sprintf("jsonencode({ action = %q })", name) {
			t.Errorf("schedule %s sends %s, want {\"action\":%q} (lambda/gc's actions)", name, got, name)
		}
	}
}

// --- Alarms --------------------------------------------------------------------------------------

// TestAlarms: the Errors alarm, and the log metric filters match what the code logs.
func TestAlarms(t *testing.T) {
	mod := loadConfig(t, moduleDir)
	for _, a := range mod.blocks("resource", "aws_cloudwatch_metric_alarm") {
		if got := a.attrSrc("alarm_actions"); got != "var.alarm_actions" {
			t.Errorf("%s: alarm_actions = %q", a.name(), got)
		}
		// Alarms on ages fire past an hour; the others on any occurrence.
		threshold := cty.Zero
		if name := a.Labels[1]; name == "ingest_queue_age" || name == "inbox_age" {
			threshold = cty.NumberIntVal(3600)
		}
		if literalString(t, a, "comparison_operator") != "GreaterThanThreshold" || !literal(t, a, a.mustAttr(t, "threshold").Expr).Equals(threshold).True() {
			t.Errorf("%s: want > %s", a.name(), threshold.AsBigFloat())
		}
	}
	errs := mod.one(t, "resource", "aws_cloudwatch_metric_alarm", "gc_errors")
	if literalString(t, errs, "namespace") != "AWS/Lambda" || literalString(t, errs, "metric_name") != "Errors" {
		t.Errorf("gc_errors watches %s/%s, want AWS/Lambda Errors", errs.attrSrc("namespace"), errs.attrSrc("metric_name"))
	}
	if got := objectItems(t, errs, errs.mustAttr(t, "dimensions").Expr)["FunctionName"]; got != "aws_lambda_function.gc.function_name" {
		t.Errorf("gc_errors dimension FunctionName = %s", got)
	}
	logGroup := mod.one(t, "resource", "aws_cloudwatch_log_group", "gc")
	if got := mod.locals(t)["log_group_name"]; got != `"/aws/lambda/${local.function_name}"` || logGroup.attrSrc("name") != "local.log_group_name" {
		t.Errorf("log group %s = %s: Lambda writes to /aws/lambda/<function name>", logGroup.attrSrc("name"), got)
	}
	if got := mod.one(t, "resource", "aws_lambda_function", "gc").attrSrc("function_name"); got != "local.function_name" {
		t.Errorf("function_name = %s", got)
	}
	if v := mod.variableDefault(t, "log_retention_days"); !v.Equals(cty.NumberIntVal(30)).True() {
		t.Errorf("log_retention_days defaults to %s", v.GoString())
	}

	// Errors are logged by lambda/gc at slog's ERROR level, as JSON.
	errFilter := mod.one(t, "resource", "aws_cloudwatch_log_metric_filter", "gc_error_logs")
	if got, want := literalString(t, errFilter, "pattern"), fmt.Sprintf(`{ $.%s = "%s" }`, slog.LevelKey, slog.LevelError); got != want {
		t.Errorf("error log pattern %s, want %s", got, want)
	}
	// Lost references: the vault's verify log line and the fields it carries.
	lost := mod.one(t, "resource", "aws_cloudwatch_log_metric_filter", "lost_references")
	pattern := literalString(t, lost, "pattern")
	if !strings.Contains(pattern, `($.msg = "verify")`) {
		t.Errorf("lost-reference pattern %s does not select the verify log line", pattern)
	}
	verifyLog := logCall(t, "vault/verify.go", `v.log.Info("verify"`)
	fields := regexp.MustCompile(`\$\.([a-z_]+)`).FindAllStringSubmatch(pattern, -1)
	for _, f := range fields {
		if f[1] != slog.MessageKey && !strings.Contains(verifyLog, `"`+f[1]+`"`) {
			t.Errorf("the lost-reference pattern matches $.%s, which vault/verify.go does not log", f[1])
		}
	}
	for _, must := range []string{"missing_segments", "missing_refs"} {
		if !strings.Contains(pattern, "$."+must+" > 0") {
			t.Errorf("the lost-reference pattern does not match %s > 0", must)
		}
	}
	for _, f := range []block{errFilter, lost} {
		if got := f.attrSrc("log_group_name"); got != "aws_cloudwatch_log_group.gc.name" {
			t.Errorf("%s reads %s", f.name(), got)
		}
	}
}

// logCall returns the text of the log call that starts with prefix in a Go file.
func logCall(t *testing.T, file, prefix string) string {
	t.Helper()
	src := readRepoFile(t, file)
	i := strings.Index(src, prefix)
	if i < 0 {
		t.Fatalf("%s has no %s", file, prefix)
	}
	end := strings.Index(src[i:], ")\n")
	return src[i : i+end]
}

// --- The example -----------------------------------------------------------------------------------

// TestExample: the example configures the provider and calls the module with only inputs it has,
// and every required input.
func TestExample(t *testing.T) {
	mod := loadConfig(t, moduleDir)
	ex := loadConfig(t, exampleDir)
	ex.one(t, "provider", "aws")
	call := ex.one(t, "module", "stowken")
	if got := literalString(t, call, "source"); got != "../../"+moduleDir {
		t.Errorf("module source %q", got)
	}
	meta := map[string]bool{"source": true, "version": true, "providers": true, "count": true, "for_each": true, "depends_on": true}
	for name := range call.Body.Attributes {
		if !meta[name] && len(mod.blocks("variable", name)) == 0 {
			t.Errorf("the example passes %s, which the module does not declare", name)
		}
	}
	for _, v := range mod.blocks("variable") {
		if v.attr("default") == nil && call.attr(v.Labels[0]) == nil {
			t.Errorf("the example does not pass the required input %s", v.Labels[0])
		}
	}
	for _, c := range []*config{mod, ex} {
		aws := objectItems(t, c.one(t, "terraform").child(t, "required_providers"), c.one(t, "terraform").child(t, "required_providers").mustAttr(t, "aws").Expr)
		if aws["source"] != `"hashicorp/aws"` || aws["version"] != `">= 5.40"` {
			t.Errorf("%s: required aws provider %v, want hashicorp/aws >= 5.40", c.Dir, aws)
		}
	}
}

// --- The security scan -----------------------------------------------------------------------------

// TestScanIgnoresAreExplained: every tfsec finding that `make terraform-scan` is told to accept
// (a #tfsec:ignore:RULE line above the resource or statement) has its reason in the comment
// right above, and a row in the module's README.
func TestScanIgnoresAreExplained(t *testing.T) {
	readme := readRepoFile(t, filepath.Join("terraform", moduleDir, "README.md"))
	ignoreRE := regexp.MustCompile(`^\s*#tfsec:ignore:([a-z0-9-]+)$`)
	n := 0
	for _, f := range allTFFiles(t) {
		lines := strings.Split(string(f.Src), "\n")
		for i, line := range lines {
			if !strings.Contains(line, "tfsec:ignore") {
				continue
			}
			m := ignoreRE.FindStringSubmatch(line)
			if m == nil {
				t.Errorf("%s:%d: %q: write #tfsec:ignore:RULE alone on its line, its reason in the comment above", f.Path, i+1, line)
				continue
			}
			n++
			if i == 0 || !strings.HasPrefix(strings.TrimSpace(lines[i-1]), "#") {
				t.Errorf("%s:%d: #tfsec:ignore:%s without a reason in the comment above it", f.Path, i+1, m[1])
			}
			if !strings.Contains(readme, "| `"+m[1]+"` |") {
				t.Errorf("%s:%d: %s is accepted, but %s/README.md does not list it with its reason", f.Path, i+1, m[1], moduleDir)
			}
		}
	}
	if n == 0 {
		t.Error("no #tfsec:ignore lines found: is the walk broken?")
	}
}

// --- Glue ----------------------------------------------------------------------------------------

// glueType is the Hive type of a Parquet field of the catalog's files, as Athena reads it.
func glueType(t *testing.T, f parquet.Field) string {
	t.Helper()
	var logical any
	if lt := f.Type().LogicalType(); lt != nil {
		logical = lt.Value
	}
	switch logical.(type) {
	case *format.StringType:
		return "string"
	case *format.TimestampType:
		return "timestamp"
	case *format.MapType:
		kv := f.Fields()[0].Fields()
		return "map<" + glueType(t, kv[0]) + "," + glueType(t, kv[1]) + ">"
	}
	switch {
	case f.Type().Kind() == parquet.Int32:
		return "int"
	case f.Type().Kind() == parquet.Int64:
		return "bigint"
	case f.Type().Kind() == parquet.ByteArray:
		return "binary"
	}
	t.Fatalf("field %s: no Glue type for %v", f.Name(), f.Type())
	return ""
}

// TestGlueTableMatchesCatalogFiles: the Glue table has exactly the columns of the files that
// catalog/parquet writes (catparquet.Row), the day partition, and partition projection over
// the catalog's prefix in the store's bucket, so that Athena reads them without a crawler.
func TestGlueTableMatchesCatalogFiles(t *testing.T) {
	mod := loadConfig(t, moduleDir)
	tbl := mod.one(t, "resource", "aws_glue_catalog_table", "catalog")
	sd := tbl.child(t, "storage_descriptor")
	var got, want []string
	for _, c := range sd.children("columns") {
		got = append(got, literalString(t, c, "name")+" "+literalString(t, c, "type"))
	}
	for _, f := range parquet.SchemaOf(catparquet.Row{}).Fields() {
		want = append(want, f.Name()+" "+glueType(t, f))
	}
	if !slices.Equal(got, want) {
		t.Errorf("the Glue table's columns\n %q\nwant the files' (catalog/parquet.Row)\n %q", got, want)
	}
	parts := tbl.children("partition_keys")
	if len(parts) != 1 || literalString(t, parts[0], "name") != "day" || literalString(t, parts[0], "type") != "string" {
		t.Errorf("partition keys: want day (string) alone")
	}
	if got := sd.child(t, "ser_de_info").attrSrc("serialization_library"); got != `"org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"` {
		t.Errorf("serialization library %s", got)
	}
	// The files' location: the catalog's prefix (catalog.FilePrefix) under the store's prefix.
	locals := mod.locals(t)
	if want := `"s3://${aws_s3_bucket.this.id}/${local.key_prefix}` + catalog.FilePrefix + `"`; locals["catalog_location"] != want {
		t.Errorf("local catalog_location = %s, want %s", locals["catalog_location"], want)
	}
	if got := sd.attrSrc("location"); got != "local.catalog_location" {
		t.Errorf("storage_descriptor location = %s, want local.catalog_location", got)
	}
	// The parameters (an object with an interpolation: read from its source).
	params := map[string]string{}
	for _, m := range regexp.MustCompile(`"?([\w.]+)"?\s*=\s*"([^"]*)"`).FindAllStringSubmatch(tbl.attrSrc("parameters"), -1) {
		params[m[1]] = m[2]
	}
	for k, v := range map[string]string{
		"projection.enabled": "true", "projection.day.type": "date", "projection.day.format": "yyyy-MM-dd",
		"projection.day.interval": "1", "projection.day.interval.unit": "DAYS", "classification": "parquet",
		// The partitions are named as catalog/parquet names them: day=YYYY-MM-DD/.
		"storage.location.template": "${local.catalog_location}day=$${day}/",
	} {
		if params[k] != v {
			t.Errorf("parameter %s = %q, want %q", k, params[k], v)
		}
	}
	if got := literalString(t, tbl, "table_type"); got != "EXTERNAL_TABLE" {
		t.Errorf("table_type %s", got)
	}
}
