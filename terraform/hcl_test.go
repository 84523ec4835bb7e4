package terraform_test

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// Helpers that read Terraform configuration with the HCL library: files are parsed, never
// planned. Literal expressions are evaluated without context; anything else is compared by its
// source text (hcl.Expression.Range into the file's bytes).

// Directories of the Terraform code, relative to this package.
const (
	moduleDir  = "modules/stowken"
	exampleDir = "examples/complete"
)

// tfFile is one parsed .tf file.
type tfFile struct {
	Path string
	Src  []byte
	Body *hclsyntax.Body
}

// config is every .tf file of one directory (a Terraform module).
type config struct {
	Dir   string
	Files []*tfFile
}

// block is a block with the file it is in, for source text.
type block struct {
	*hclsyntax.Block
	File *tfFile
}

func parseFile(t *testing.T, p *hclparse.Parser, path string) *tfFile {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, diags := p.ParseHCL(src, path)
	if diags.HasErrors() {
		t.Fatalf("%s: %s", path, diags.Error())
	}
	return &tfFile{Path: path, Src: src, Body: f.Body.(*hclsyntax.Body)}
}

// loadConfig parses every .tf file directly in dir.
func loadConfig(t *testing.T, dir string) *config {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatalf("no .tf files in %s", dir)
	}
	sort.Strings(paths)
	c := &config{Dir: dir}
	p := hclparse.NewParser()
	for _, path := range paths {
		c.Files = append(c.Files, parseFile(t, p, path))
	}
	return c
}

// allTFFiles returns every .tf file under the terraform directory, parsed.
func allTFFiles(t *testing.T) []*tfFile {
	t.Helper()
	var out []*tfFile
	p := hclparse.NewParser()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), ".") && path != "." { // .terraform and the like
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".tf") {
			out = append(out, parseFile(t, p, path))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatal("no .tf files under terraform/")
	}
	return out
}

// blocks returns the top-level blocks of type typ whose leading labels are labels.
func (c *config) blocks(typ string, labels ...string) []block {
	var out []block
	for _, f := range c.Files {
		for _, b := range f.Body.Blocks {
			if b.Type == typ && len(b.Labels) >= len(labels) && slices.Equal(b.Labels[:len(labels)], labels) {
				out = append(out, block{b, f})
			}
		}
	}
	return out
}

// one returns the only top-level block of type typ with the given labels, or fails.
func (c *config) one(t *testing.T, typ string, labels ...string) block {
	t.Helper()
	bs := c.blocks(typ, labels...)
	if len(bs) != 1 {
		t.Fatalf("%s: %d blocks %s %q, want 1", c.Dir, len(bs), typ, labels)
	}
	return bs[0]
}

// children returns b's nested blocks of type typ.
func (b block) children(typ string) []block {
	var out []block
	for _, c := range b.Body.Blocks {
		if c.Type == typ {
			out = append(out, block{c, b.File})
		}
	}
	return out
}

// child returns b's only nested block of type typ, or fails.
func (b block) child(t *testing.T, typ string) block {
	t.Helper()
	cs := b.children(typ)
	if len(cs) != 1 {
		t.Fatalf("%s: %d %q blocks, want 1", b.name(), len(cs), typ)
	}
	return cs[0]
}

func (b block) name() string {
	return strings.Join(append([]string{b.Type}, b.Labels...), ".") + " (" + b.File.Path + ")"
}

// attr returns b's attribute name, or nil.
func (b block) attr(name string) *hclsyntax.Attribute {
	return b.Body.Attributes[name]
}

// mustAttr returns b's attribute name, or fails.
func (b block) mustAttr(t *testing.T, name string) *hclsyntax.Attribute {
	t.Helper()
	a := b.attr(name)
	if a == nil {
		t.Fatalf("%s has no attribute %q", b.name(), name)
	}
	return a
}

// src returns the source text of an expression of b.
func (b block) src(e hclsyntax.Expression) string {
	return exprSrc(b.File, e)
}

func exprSrc(f *tfFile, e hclsyntax.Expression) string {
	r := e.Range()
	return string(f.Src[r.Start.Byte:r.End.Byte])
}

// attrSrc returns the source text of b's attribute name ("" when absent).
func (b block) attrSrc(name string) string {
	if a := b.attr(name); a != nil {
		return b.src(a.Expr)
	}
	return ""
}

// literal evaluates a literal expression (no variables, no functions), or fails.
func literal(t *testing.T, b block, e hclsyntax.Expression) cty.Value {
	t.Helper()
	v, diags := e.Value(nil)
	if diags.HasErrors() {
		t.Fatalf("%s: %s is not a literal: %s", b.name(), b.src(e), diags.Error())
	}
	return v
}

// literalString returns b's attribute name as a literal string, or fails.
func literalString(t *testing.T, b block, name string) string {
	t.Helper()
	v := literal(t, b, b.mustAttr(t, name).Expr)
	if v.IsNull() || v.Type() != cty.String {
		t.Fatalf("%s: %s is %s, want a string", b.name(), name, v.GoString())
	}
	return v.AsString()
}

// literalBool returns b's attribute name as a literal bool, or fails.
func literalBool(t *testing.T, b block, name string) bool {
	t.Helper()
	v := literal(t, b, b.mustAttr(t, name).Expr)
	if v.IsNull() || v.Type() != cty.Bool {
		t.Fatalf("%s: %s is %s, want true or false", b.name(), name, v.GoString())
	}
	return v.True()
}

// literalStrings returns a literal list of strings.
func literalStrings(t *testing.T, b block, e hclsyntax.Expression) []string {
	t.Helper()
	v := literal(t, b, e)
	if !v.Type().IsTupleType() && !v.Type().IsListType() {
		t.Fatalf("%s: %s is not a list", b.name(), b.src(e))
	}
	var out []string
	for it := v.ElementIterator(); it.Next(); {
		_, ev := it.Element()
		if ev.Type() != cty.String {
			t.Fatalf("%s: %s has a non-string element", b.name(), b.src(e))
		}
		out = append(out, ev.AsString())
	}
	return out
}

// elementSrcs returns the source text of each element of a list expression.
func elementSrcs(t *testing.T, b block, e hclsyntax.Expression) []string {
	t.Helper()
	tup, ok := e.(*hclsyntax.TupleConsExpr)
	if !ok {
		t.Fatalf("%s: %s is not a list expression", b.name(), b.src(e))
	}
	var out []string
	for _, el := range tup.Exprs {
		out = append(out, b.src(el))
	}
	return out
}

// objectItems returns the keys and value source texts of an object expression.
func objectItems(t *testing.T, b block, e hclsyntax.Expression) map[string]string {
	t.Helper()
	obj, ok := e.(*hclsyntax.ObjectConsExpr)
	if !ok {
		t.Fatalf("%s: %s is not an object expression", b.name(), b.src(e))
	}
	out := map[string]string{}
	for _, item := range obj.Items {
		key := hcl.ExprAsKeyword(item.KeyExpr)
		if key == "" {
			v, diags := item.KeyExpr.Value(nil)
			if diags.HasErrors() || v.Type() != cty.String {
				t.Fatalf("%s: object key %s is not a literal", b.name(), b.src(item.KeyExpr))
			}
			key = v.AsString()
		}
		out[key] = b.src(item.ValueExpr)
	}
	return out
}

// locals returns the source text of every local value of c.
func (c *config) locals(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, b := range c.blocks("locals") {
		for name, a := range b.Body.Attributes {
			if _, dup := out[name]; dup {
				t.Fatalf("local %s defined twice", name)
			}
			out[name] = b.src(a.Expr)
		}
	}
	return out
}

// variableDefault returns the literal default of variable name, or fails.
func (c *config) variableDefault(t *testing.T, name string) cty.Value {
	t.Helper()
	v := c.one(t, "variable", name)
	return literal(t, v, v.mustAttr(t, "default").Expr)
}

// TestTerraformFilesAreFormatted applies the HCL formatter terraform fmt is built on (the Makefile's
// terraform-fmt target runs terraform fmt -check itself).
func TestTerraformFilesAreFormatted(t *testing.T) {
	for _, f := range allTFFiles(t) {
		if got := hclwrite.Format(f.Src); !bytes.Equal(got, f.Src) {
			t.Errorf("%s is not formatted: run terraform fmt -recursive terraform", f.Path)
		}
	}
}

// TestDescriptions: every variable and output has a non-empty description.
func TestDescriptions(t *testing.T) {
	n := 0
	for _, f := range allTFFiles(t) {
		for _, b := range f.Body.Blocks {
			if b.Type != "variable" && b.Type != "output" {
				continue
			}
			n++
			blk := block{b, f}
			a := blk.attr("description")
			if a == nil {
				t.Errorf("%s has no description", blk.name())
				continue
			}
			v, diags := a.Expr.Value(nil)
			if diags.HasErrors() || v.Type() != cty.String || strings.TrimSpace(v.AsString()) == "" {
				t.Errorf("%s: description %s is not a non-empty literal string", blk.name(), blk.src(a.Expr))
			}
		}
	}
	if n < 20 {
		t.Errorf("only %d variables and outputs found: is the walk broken?", n)
	}
}
