package terraform_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/stowken/stowken/internal/ddbitem"
)

// Resources of the module's grants, as the source text the policies use (locals of main.tf).
const (
	resBucket    = "local.bucket_arn"    // the bucket itself (ListBucket), with an s3:prefix condition
	resObjects   = "local.objects_arn"   // every object under the store's prefix
	resSegments  = "local.segments_arn"  // segment objects only
	resManifests = "local.manifests_arn" // manifests of the layout before batches only
	resBatches   = "local.batches_arn"   // batch objects only
	resModels    = "local.models_arn"    // compression models only
	resChecks    = "local.checks_arn"    // the startup probe's marker and scratch objects
	resCatalog   = "local.catalog_arn"   // the catalog's Parquet files
	resDeletions = "local.deletions_arn" // the catalog's deletions
	resGathered  = "local.gathered_arn"  // how far GC gathered the catalog entries of conversations stored alone
	resTable     = "local.table_arn"     // the reference table
)

// sdkCall is one AWS SDK call of objstore/s3, internal/ddbtable or refcount/dynamodb and the IAM
// action it needs.
// GC and Writer are the resource the GC function's role and the writer policy must grant the
// action on ("" for none: the role never makes the call).
type sdkCall struct {
	Pkg    string // package directory
	Method string // the client method, or the paginator/waiter constructor
	Action string
	GC     string
	Writer string
	Why    string
}

// sdkCalls is every AWS SDK call the Go code makes, derived from objstore/s3/s3.go,
// internal/ddbtable/*.go and refcount/dynamodb/*.go (TestSDKCallsAreListed keeps it complete),
// and who needs it.
var sdkCalls = []sdkCall{
	// objstore/s3
	{"objstore/s3", "PutObject", "s3:PutObject", resSegments, resSegments,
		"Bucket.Put: vault.Store uploads segments, the collector's compaction of a batch the packs of the batch replacing it (If-None-Match: *)"},
	{"objstore/s3", "PutObject", "s3:PutObject", resBatches, resBatches,
		"Bucket.Put: vault.StoreBatch uploads its batch object, the collector's compaction that of the batch replacing a compacted one (If-None-Match: *)"},
	{"objstore/s3", "PutObject", "s3:PutObject", "", resModels,
		"Bucket.Put: vault.Store uploads compression models (If-None-Match: *)"},
	{"objstore/s3", "PutObject", "s3:PutObject", resCatalog, resCatalog,
		"Bucket.Put: Store and StoreBatch write the catalog file of their conversations, the GC function's compaction the merged files (catalog/parquet; If-None-Match: *)"},
	{"objstore/s3", "PutObject", "s3:PutObject", "", resDeletions,
		"Bucket.Put: vault.Delete writes the catalog's deletion of the conversation (catalog/parquet; If-None-Match: *)"},
	{"objstore/s3", "PutObject", "s3:PutObject", resGathered, "",
		"Bucket.Put: GC moves the mark of the catalog entries of conversations stored alone it gathered (If-None-Match: *, then If-Match)"},
	{"objstore/s3", "PutObject", "s3:PutObject", resChecks, resChecks,
		"Bucket.Put: the startup probe of conditional writes (before a process's first upload: a Store, or the collector's compaction) puts its marker and a scratch object (If-None-Match: *), then replaces the scratch object (If-Match)"},
	{"objstore/s3", "GetObject", "s3:GetObject", resObjects, resObjects,
		"Bucket.Get: vault.New loads models/, Retrieve reads batch objects and segments, List and the catalog's compaction its files, GC reads the batch objects of batches it retires, Verify (the function's verify action) reads batch objects and segments"},
	{"objstore/s3", "HeadObject", "s3:GetObject", resObjects, "",
		"Bucket.Stat: the collector's release (is the object still there), Verify; HEAD is authorized by s3:GetObject"},
	{"objstore/s3", "DeleteObjects", "s3:DeleteObject", resSegments, resManifests,
		"Bucket.Delete: the collector deletes segments; stowken migrate deletes the manifests of the layout before batches, never a segment"},
	{"objstore/s3", "DeleteObjects", "s3:DeleteObject", resBatches, "",
		"Bucket.Delete: the collector deletes the batch objects of retired batches"},
	{"objstore/s3", "DeleteObjects", "s3:DeleteObject", resChecks, resChecks,
		"Bucket.Delete: the startup probe deletes its scratch objects"},
	{"objstore/s3", "DeleteObjects", "s3:DeleteObject", resCatalog, "",
		"Bucket.Delete: the catalog's compaction deletes the files it merged"},
	{"objstore/s3", "DeleteObjects", "s3:DeleteObject", resDeletions, "",
		"Bucket.Delete: the catalog's compaction deletes the deletions it applied"},
	{"objstore/s3", "NewListObjectsV2Paginator", "s3:ListBucket", resBucket, resBucket,
		"Bucket.List: models/ and manifests/ when a vault opens, catalog/ and catalog-deleted/ for List, Stats and the compaction, segments/ and batches/ for Stats and Verify"},
	{"objstore/s3", "HeadBucket", "s3:ListBucket", "", "",
		"Bucket.EnsureBucket (stowken init) only: Terraform creates the bucket"},
	{"objstore/s3", "CreateBucket", "s3:CreateBucket", "", "",
		"Bucket.EnsureBucket (stowken init) only: Terraform creates the bucket"},

	// refcount/dynamodb
	{"refcount/dynamodb", "GetItem", "dynamodb:GetItem", resTable, resTable,
		"GetHead: every Store reads each segment's head; the collector reads it before claiming; Verify. GetPointer: Retrieve, Delete, and the collector retiring a batch"},
	{"refcount/dynamodb", "PutItem", "dynamodb:PutItem", resTable, resTable,
		"CreateHead: Store and the collector's compaction create the head of a new segment; the collector creates the GC lease's head once. CreatePointer: Store. MovePointer: the collector's compaction"},
	{"refcount/dynamodb", "UpdateItem", "dynamodb:UpdateItem", resTable, resTable,
		"Claim and Release (collector), Revive (a writer, or the collector's compaction, re-uploading a segment whose claim expired)"},
	{"refcount/dynamodb", "DeleteItem", "dynamodb:DeleteItem", resTable, resTable,
		"DeleteHead and RemoveCandidate: the collector only; DeletePointer: vault.Delete, limited to the pointers' partition keys"},
	{"refcount/dynamodb", "Query", "dynamodb:Query", resTable, "",
		"HasRefs (one strongly consistent query per shard): the collector only"},
	{"refcount/dynamodb", "NewQueryPaginator", "dynamodb:Query", resTable, "",
		"ListCandidates: the collector only"},
	{"refcount/dynamodb", "NewScanPaginator", "dynamodb:Scan", resTable, "",
		"ListRefs, ListHeads and ListPointers: Verify only (the function's verify action)"},
	{"refcount/dynamodb", "BatchWriteItem", "dynamodb:BatchWriteItem", resTable, resTable,
		"AddRefs (Store, the collector's compaction), RemoveRefs and MarkCandidates (Delete, a failed Store, the collector retiring a batch)"},

	// internal/ddbtable
	{"internal/ddbtable", "DescribeTable", "dynamodb:DescribeTable", "", "",
		"EnsureTable (stowken init) only: Terraform creates the table"},
	{"internal/ddbtable", "NewTableExistsWaiter", "dynamodb:DescribeTable", "", "",
		"EnsureTable (stowken init) only"},
	{"internal/ddbtable", "CreateTable", "dynamodb:CreateTable", "", "",
		"EnsureTable (stowken init) only"},
}

// Calls of the SDK clients in the backends' Go sources: st.client.PutItem(…),
// t.Client.CreateTable(…), b.client.GetObject(…), ddb.NewScanPaginator(…),
// s3.NewListObjectsV2Paginator(…), ddb.NewTableExistsWaiter(…).
var (
	clientCallRE = regexp.MustCompile(`\b[cC]lient\.([A-Z]\w*)\(`)
	helperCallRE = regexp.MustCompile(`\b(?:s3|ddb|dynamodb)\.(New\w+(?:Paginator|Waiter))\(`)
)

// TestSDKCallsAreListed: every SDK call in the backends' sources is in sdkCalls, and every entry
// of sdkCalls is still in the sources. Adding a call without its IAM action fails here.
func TestSDKCallsAreListed(t *testing.T) {
	listed := map[string]bool{}
	for _, c := range sdkCalls {
		listed[c.Pkg+" "+c.Method] = true
	}
	found := map[string]bool{}
	for _, pkg := range []string{"objstore/s3", "internal/ddbtable", "refcount/dynamodb"} {
		files, err := filepath.Glob(filepath.Join(repoRoot, pkg, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no Go files in %s (%v)", pkg, err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, re := range []*regexp.Regexp{clientCallRE, helperCallRE} {
				for _, m := range re.FindAllStringSubmatch(string(src), -1) {
					key := pkg + " " + m[1]
					found[key] = true
					if !listed[key] {
						t.Errorf("%s calls the AWS SDK's %s: add it to sdkCalls with the IAM action it needs, and grant that action in %s where the GC function or writers need it",
							f, m[1], moduleDir)
					}
				}
			}
		}
	}
	for key := range listed {
		if !found[key] {
			t.Errorf("sdkCalls lists %s, which the code no longer calls: remove it (and its grant, if nothing else needs it)", key)
		}
	}
}

// statement is one IAM policy statement of an aws_iam_policy_document.
type statement struct {
	Doc        string
	Effect     string
	Actions    []string
	Resources  []string // source text of each element
	Conditions []block
	Dynamic    string // the for_each of a dynamic "statement" block, else ""
	Block      block
}

// sourceDocRE matches an element of source_policy_documents: another document of the module.
var sourceDocRE = regexp.MustCompile(`^data\.aws_iam_policy_document\.(\w+)\.json$`)

// policyStatements returns the statements of data "aws_iam_policy_document" docName, the
// content of dynamic "statement" blocks included, and those of the documents it names in
// source_policy_documents.
func policyStatements(t *testing.T, c *config, docName string) []statement {
	t.Helper()
	doc := c.one(t, "data", "aws_iam_policy_document", docName)
	var out []statement
	// A list of the module's documents is followed; anything else (the users' own documents,
	// var.bucket_policy_documents) is theirs.
	if src := doc.attr("source_policy_documents"); src != nil && isTuple(src.Expr) {
		for _, e := range elementSrcs(t, doc, src.Expr) {
			m := sourceDocRE.FindStringSubmatch(e)
			if m == nil {
				t.Fatalf("%s: source_policy_documents element %s is not a policy document of the module", docName, e)
			}
			out = append(out, policyStatements(t, c, m[1])...)
		}
	}
	add := func(b block, dynamic string) {
		for _, forbidden := range []string{"not_actions", "not_resources", "not_principals"} {
			if b.attr(forbidden) != nil || len(b.children(forbidden)) > 0 {
				t.Errorf("%s: %s has %s", docName, b.name(), forbidden)
			}
		}
		st := statement{Doc: docName, Effect: "Allow", Dynamic: dynamic, Block: b, Conditions: b.children("condition")}
		if b.attr("effect") != nil {
			st.Effect = literalString(t, b, "effect")
		}
		st.Actions = literalStrings(t, b, b.mustAttr(t, "actions").Expr)
		if r := b.attr("resources"); r != nil {
			st.Resources = elementSrcs(t, b, r.Expr)
		}
		out = append(out, st)
	}
	for _, s := range doc.children("statement") {
		add(s, "")
	}
	for _, d := range doc.children("dynamic") {
		if len(d.Labels) != 1 || d.Labels[0] != "statement" {
			continue
		}
		add(d.child(t, "content"), d.attrSrc("for_each"))
	}
	return out
}

// isTuple reports whether e is a list written out ([a, b]).
func isTuple(e hclsyntax.Expression) bool {
	_, ok := e.(*hclsyntax.TupleConsExpr)
	return ok
}

// grants returns action → resources of a policy's Allow statements for the given services.
func grants(sts []statement, services ...string) map[string][]string {
	out := map[string][]string{}
	for _, st := range sts {
		if st.Effect != "Allow" {
			continue
		}
		for _, a := range st.Actions {
			if slices.Contains(services, strings.SplitN(a, ":", 2)[0]) {
				out[a] = append(out[a], st.Resources...)
			}
		}
	}
	for a := range out {
		sort.Strings(out[a])
		out[a] = slices.Compact(out[a])
	}
	return out
}

// required returns action → resources the role needs, from sdkCalls.
func required(role func(sdkCall) string) map[string][]string {
	out := map[string][]string{}
	for _, c := range sdkCalls {
		if r := role(c); r != "" && !slices.Contains(out[c.Action], r) {
			out[c.Action] = append(out[c.Action], r)
		}
	}
	for a := range out {
		sort.Strings(out[a])
	}
	return out
}

// diffGrants reports what a policy lacks and what it grants beyond need.
func diffGrants(t *testing.T, who string, need, have map[string][]string) {
	t.Helper()
	for a, rs := range need {
		for _, r := range rs {
			if !slices.Contains(have[a], r) {
				var why []string
				for _, c := range sdkCalls {
					if c.Action == a {
						why = append(why, c.Method+": "+c.Why)
					}
				}
				t.Errorf("%s lacks %s on %s, needed by %s", who, a, r, strings.Join(why, "; "))
			}
		}
	}
	for a, rs := range have {
		for _, r := range rs {
			if !slices.Contains(need[a], r) {
				t.Errorf("%s grants %s on %s, which no SDK call of its role needs (least privilege; see sdkCalls)", who, a, r)
			}
		}
	}
}

// TestGCRoleGrantsWhatTheCodeCalls: the GC function's role allows exactly the S3 and DynamoDB
// actions of the calls it makes, on the resources they touch.
func TestGCRoleGrantsWhatTheCodeCalls(t *testing.T) {
	mod := loadConfig(t, moduleDir)
	sts := policyStatements(t, mod, "gc")
	diffGrants(t, "the GC role", required(func(c sdkCall) string { return c.GC }), grants(sts, "s3", "dynamodb"))
	checkListCondition(t, sts)

	// Logs: its own log group only.
	logs := grants(sts, "logs")
	want := map[string][]string{
		"logs:CreateLogStream": {`"${aws_cloudwatch_log_group.gc.arn}:*"`},
		"logs:PutLogEvents":    {`"${aws_cloudwatch_log_group.gc.arn}:*"`},
	}
	if !mapsEqual(logs, want) {
		t.Errorf("the GC role's logs grants %v, want %v", logs, want)
	}
	// KMS: Decrypt (it reads objects) and GenerateDataKey (it writes the catalog's merged
	// files and what a batch's compaction writes), and only when a key is given.
	checkKMS(t, sts, map[string][]string{"": {"kms:Decrypt", "kms:GenerateDataKey"}, dynamoDBViaService: tableKMSActions})
	checkConditionalPuts(t, sts, map[string][]string{
		"s3:if-none-match": {resBatches, resCatalog, resChecks, resGathered, resSegments},
		"s3:if-match":      {resChecks, resGathered},
	})

	role := mod.one(t, "resource", "aws_iam_role_policy", "gc")
	if role.attrSrc("role") != "aws_iam_role.gc.id" || role.attrSrc("policy") != "data.aws_iam_policy_document.gc.json" {
		t.Errorf("the GC policy is attached as %s to %s", role.attrSrc("policy"), role.attrSrc("role"))
	}
	if got := mod.one(t, "resource", "aws_lambda_function", "gc").attrSrc("role"); got != "aws_iam_role.gc.arn" {
		t.Errorf("the function runs as %s", got)
	}
	assume := policyStatements(t, mod, "gc_assume")
	if len(assume) != 1 || !slices.Equal(assume[0].Actions, []string{"sts:AssumeRole"}) ||
		!strings.Contains(assume[0].Block.child(t, "principals").attrSrc("identifiers"), `"lambda.amazonaws.com"`) {
		t.Errorf("the GC role is not assumable by Lambda alone: %+v", assume)
	}
}

// TestWriterPolicyGrantsWhatTheCodeCalls: the writer policy allows exactly what Store, Retrieve,
// Delete, List and Stats call, and no deletion of segments.
func TestWriterPolicyGrantsWhatTheCodeCalls(t *testing.T) {
	mod := loadConfig(t, moduleDir)
	sts := policyStatements(t, mod, "writer")
	have := grants(sts, "s3", "dynamodb")
	diffGrants(t, "the writer policy", required(func(c sdkCall) string { return c.Writer }), have)
	checkListCondition(t, sts)
	checkKMS(t, sts, map[string][]string{"": {"kms:Decrypt", "kms:GenerateDataKey"}, dynamoDBViaService: tableKMSActions})
	checkNoTableDelete(t, sts)
	checkConditionalPuts(t, sts, map[string][]string{
		"s3:if-none-match": {resBatches, resCatalog, resChecks, resDeletions, resModels, resSegments},
		"s3:if-match":      {resChecks},
	})

	for _, a := range []string{"s3:DeleteObject", "s3:DeleteObjectVersion"} {
		for _, r := range have[a] {
			if r != resManifests && r != resChecks {
				t.Errorf("the writer policy allows %s on %s: applications must never delete segments", a, r)
			}
		}
	}
	pol := mod.one(t, "resource", "aws_iam_policy", "writer")
	if got := pol.attrSrc("policy"); got != "data.aws_iam_policy_document.writer.json" {
		t.Errorf("the writer policy is %s", got)
	}
	for _, out := range []string{"writer_policy_arn", "bucket_name", "table_name", "function_name", "function_arn", "bucket_arn", "table_arn"} {
		mod.one(t, "output", out)
	}
}

// TestSchedulerRole: the scheduler may invoke the function and nothing else.
func TestSchedulerRole(t *testing.T) {
	mod := loadConfig(t, moduleDir)
	sts := policyStatements(t, mod, "scheduler")
	have := grants(sts, "lambda", "s3", "dynamodb", "logs", "kms", "iam", "sts")
	want := map[string][]string{"lambda:InvokeFunction": {"aws_lambda_function.gc.arn", `"${aws_lambda_function.gc.arn}:*"`}}
	for a := range want {
		sort.Strings(want[a])
	}
	if !mapsEqual(have, want) {
		t.Errorf("the scheduler role grants %v, want %v", have, want)
	}
	assume := policyStatements(t, mod, "scheduler_assume")
	if len(assume) != 1 || !strings.Contains(assume[0].Block.child(t, "principals").attrSrc("identifiers"), `"scheduler.amazonaws.com"`) {
		t.Errorf("the scheduler role is not assumable by EventBridge Scheduler alone")
	}
}

// TestResourceScopes: the locals the grants use are the store's prefix in this bucket and this
// table, in the key layout of packages segment, manifest and codec.
func TestResourceScopes(t *testing.T) {
	mod := loadConfig(t, moduleDir)
	locals := mod.locals(t)
	prefixOf := func(file, name string) string {
		m := regexp.MustCompile(`\b` + name + `\s*=\s*"([^"]+)"`).FindStringSubmatch(readRepoFile(t, file))
		if m == nil {
			t.Fatalf("%s no longer defines %s", file, name)
		}
		return m[1]
	}
	want := map[string]string{
		"key_prefix":    `var.prefix == "" ? "" : "${var.prefix}/"`,
		"bucket_arn":    "aws_s3_bucket.this.arn",
		"objects_arn":   `"${aws_s3_bucket.this.arn}/${local.key_prefix}*"`,
		"segments_arn":  `"${aws_s3_bucket.this.arn}/${local.key_prefix}` + prefixOf("segment/segment.go", "Prefix") + `*"`,
		"manifests_arn": `"${aws_s3_bucket.this.arn}/${local.key_prefix}` + prefixOf("manifest/manifest.go", "Prefix") + `*"`,
		"models_arn":    `"${aws_s3_bucket.this.arn}/${local.key_prefix}` + prefixOf("codec/model.go", "ModelPrefix") + `*"`,
		"checks_arn":    `"${aws_s3_bucket.this.arn}/${local.key_prefix}checks/*"`,
		"catalog_arn":   `"${aws_s3_bucket.this.arn}/${local.key_prefix}` + prefixOf("catalog/catalog.go", "FilePrefix") + `*"`,
		"deletions_arn": `"${aws_s3_bucket.this.arn}/${local.key_prefix}` + prefixOf("catalog/catalog.go", "DeletedPrefix") + `*"`,
		"table_arn":     "aws_dynamodb_table.this.arn",
	}
	for k, v := range want {
		if locals[k] != v {
			t.Errorf("local %s = %s, want %s", k, locals[k], v)
		}
	}
}

// checkListCondition: s3:ListBucket is granted only with an s3:prefix condition on the store's prefix.
func checkListCondition(t *testing.T, sts []statement) {
	t.Helper()
	for _, st := range sts {
		if !slices.Contains(st.Actions, "s3:ListBucket") {
			continue
		}
		ok := false
		for _, c := range st.Conditions {
			if literalString(t, c, "test") == "StringLike" && literalString(t, c, "variable") == "s3:prefix" &&
				slices.Equal(elementSrcs(t, c, c.mustAttr(t, "values").Expr), []string{`"${local.key_prefix}*"`}) {
				ok = true
			}
		}
		if !ok || len(st.Actions) != 1 {
			t.Errorf("%s: s3:ListBucket must be alone in its statement, limited to s3:prefix ${local.key_prefix}*", st.Doc)
		}
	}
}

// checkNoTableDelete: the writer deletes no item of the table but pointers (the references and
// heads are the collector's to delete): dynamodb:DeleteItem stands alone, limited to partition
// keys of pointers (ddbitem.PointerPrefix).
func checkNoTableDelete(t *testing.T, sts []statement) {
	t.Helper()
	for _, st := range sts {
		if !slices.Contains(st.Actions, "dynamodb:DeleteItem") {
			continue
		}
		ok := false
		for _, c := range st.Conditions {
			if literalString(t, c, "test") == "ForAllValues:StringLike" && literalString(t, c, "variable") == "dynamodb:LeadingKeys" &&
				slices.Equal(elementSrcs(t, c, c.mustAttr(t, "values").Expr), []string{strconv.Quote(ddbitem.PointerPrefix("") + "*")}) {
				ok = true
			}
		}
		if !ok || len(st.Actions) != 1 {
			t.Errorf("%s: grants dynamodb:DeleteItem beyond the pointers (id#*); references and heads are the collector's to delete", st.Doc)
		}
	}
}

// dynamoDBViaService is the kms:ViaService pattern of the statements that let DynamoDB use the
// table's key on a role's behalf (StringLike: DynamoDB in any region).
const dynamoDBViaService = "dynamodb.*.amazonaws.com"

// tableKMSActions are what a principal that reads and writes a table encrypted with a
// customer-managed key needs on the key, through DynamoDB (AWS: "How Amazon DynamoDB uses AWS
// KMS"; kms:CreateGrant is needed only by whoever creates the table).
var tableKMSActions = []string{"kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"}

// checkKMS: KMS actions are exactly want, by the kms:ViaService pattern their statement is
// limited to ("" for none), on the given key, in statements that exist only when kms_key_arn is
// set.
func checkKMS(t *testing.T, sts []statement, want map[string][]string) {
	t.Helper()
	got := map[string][]string{}
	for _, st := range sts {
		var kms []string
		for _, a := range st.Actions {
			if strings.HasPrefix(a, "kms:") {
				kms = append(kms, a)
			}
		}
		if len(kms) == 0 {
			continue
		}
		if st.Dynamic != "var.kms_key_arn == null ? [] : [var.kms_key_arn]" || !slices.Equal(st.Resources, []string{"statement.value"}) {
			t.Errorf("%s: KMS actions %v must be granted on var.kms_key_arn only when it is set (for_each %q, resources %v)",
				st.Doc, kms, st.Dynamic, st.Resources)
		}
		via := ""
		for _, c := range st.Conditions {
			if literalString(t, c, "variable") != "kms:ViaService" {
				t.Errorf("%s: KMS statement with a condition on %s", st.Doc, literalString(t, c, "variable"))
				continue
			}
			vs := literalStrings(t, c, c.mustAttr(t, "values").Expr)
			if literalString(t, c, "test") != "StringLike" || len(vs) != 1 {
				t.Errorf("%s: kms:ViaService condition %s %v, want StringLike on one service", st.Doc, c.attrSrc("test"), vs)
				continue
			}
			via = vs[0]
		}
		got[via] = append(got[via], kms...)
	}
	for k := range got {
		sort.Strings(got[k])
	}
	if !mapsEqual(got, want) {
		t.Errorf("KMS actions by kms:ViaService %v, want %v", got, want)
	}
}

// checkConditionalPuts: s3:PutObject is allowed only on the prefixes the Go code writes (want:
// the resources by the condition key they require), and only for requests that carry a
// conditional header (IAM condition Null: KEY false), so that S3 itself refuses an overwrite of
// a segment, manifest, model or catalog file: If-None-Match everywhere; If-Match on checks/
// only, for the startup probe's second write.
func checkConditionalPuts(t *testing.T, sts []statement, want map[string][]string) {
	t.Helper()
	got := map[string][]string{} // condition key -> resources
	for _, st := range sts {
		if !slices.Contains(st.Actions, "s3:PutObject") {
			continue
		}
		var keys []string
		for _, c := range st.Conditions {
			if literalString(t, c, "test") == "Null" && slices.Equal(literalStrings(t, c, c.mustAttr(t, "values").Expr), []string{"false"}) {
				keys = append(keys, literalString(t, c, "variable"))
			}
		}
		if len(st.Actions) != 1 || len(st.Conditions) != 1 || len(keys) != 1 {
			t.Errorf("%s: s3:PutObject must be alone in its statement, with one condition Null: s3:if-none-match (or s3:if-match) false; has actions %v and %d conditions",
				st.Doc, st.Actions, len(st.Conditions))
			continue
		}
		got[keys[0]] = append(got[keys[0]], st.Resources...)
	}
	for k := range got {
		sort.Strings(got[k])
	}
	if !mapsEqual(got, want) {
		t.Errorf("%s: s3:PutObject resources by the conditional header they require %v, want %v", sts[0].Doc, got, want)
	}
}

// TestNoWildcards: no IAM statement anywhere allows "*", a service wildcard such as s3:* or
// dynamodb:*, or any other pattern, and no resource is "*" (a Deny may use them: it takes away).
// Policies are written only with aws_iam_policy_document, so that this test sees all of them.
func TestNoWildcards(t *testing.T) {
	actionRE := regexp.MustCompile(`^[a-z0-9-]+:[A-Za-z0-9]+$`)
	docs := 0
	for _, dir := range []string{moduleDir, exampleDir} {
		c := loadConfig(t, dir)
		for _, d := range c.blocks("data", "aws_iam_policy_document") {
			docs++
			for _, st := range policyStatements(t, c, d.Labels[1]) {
				if st.Effect == "Deny" {
					continue
				}
				for _, a := range st.Actions {
					if !actionRE.MatchString(a) {
						t.Errorf("%s: action %q is not one exact action (no wildcards)", d.name(), a)
					}
				}
				if st.Block.attr("resources") == nil && st.Block.children("principals") == nil {
					t.Errorf("%s: a statement without resources", d.name())
				}
				for _, r := range st.Resources {
					if r == `"*"` || strings.HasSuffix(r, `:*:*"`) || strings.HasSuffix(r, `:::*"`) {
						t.Errorf("%s: resource %s is a wildcard", d.name(), r)
					}
				}
			}
		}
		// Every policy of every resource comes from a policy document.
		for _, f := range c.Files {
			for _, b := range f.Body.Blocks {
				if b.Type != "resource" {
					continue
				}
				blk := block{b, f}
				for _, name := range []string{"policy", "assume_role_policy", "inline_policy"} {
					if src := blk.attrSrc(name); src != "" && !regexp.MustCompile(`^data\.aws_iam_policy_document\.\w+\.json$`).MatchString(src) {
						t.Errorf("%s: %s = %s; write policies with aws_iam_policy_document", blk.name(), name, src)
					}
				}
			}
		}
	}
	if docs < 5 {
		t.Errorf("only %d policy documents found: is the walk broken?", docs)
	}
}

func mapsEqual(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}
