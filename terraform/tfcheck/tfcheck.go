// Package tfcheck checks the Terraform configuration in terraform/ without
// providers or a network: it parses every .tf file with
// github.com/hashicorp/hcl/v2 and reports what a review would refuse —
// a function without a Lambda or without a route or schedule, a secret value
// written in a file, an IAM grant of a wildcard action or resource.
//
// It reads the configuration as written, not as planned: for_each over a
// local or a variable's default is followed, other expressions are not
// evaluated.
package tfcheck

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// Module is the parsed .tf files of one directory.
type Module struct {
	Dir   string
	files map[string]*hclsyntax.Body // file name → body
}

// Load parses every .tf file in dir (not its subdirectories). A file that
// does not parse is an error naming it.
func Load(dir string) (*Module, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil {
		return nil, err
	} else if len(names) == 0 {
		return nil, fmt.Errorf("no .tf files in %s", dir)
	}
	p := hclparse.NewParser()
	m := &Module{Dir: dir, files: map[string]*hclsyntax.Body{}}
	for _, name := range names {
		f, diags := p.ParseHCLFile(name)
		if diags.HasErrors() {
			return nil, fmt.Errorf("parse %s: %s", name, diags.Error())
		}
		m.files[filepath.Base(name)] = f.Body.(*hclsyntax.Body)
	}
	return m, nil
}

// block is a top-level block with the file it is in.
type block struct {
	file string
	*hclsyntax.Block
}

// blocks returns the top-level blocks of a type (and first label when
// label != ""), in file order.
func (m *Module) blocks(typ, label string) []block {
	var out []block
	for _, name := range m.fileNames() {
		for _, b := range m.files[name].Blocks {
			if b.Type == typ && (label == "" || (len(b.Labels) > 0 && b.Labels[0] == label)) {
				out = append(out, block{name, b})
			}
		}
	}
	return out
}

func (m *Module) fileNames() []string {
	var names []string
	for n := range m.files {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// local returns the expression of a local value, or nil.
func (m *Module) local(name string) hcl.Expression {
	for _, b := range m.blocks("locals", "") {
		if a, ok := b.Body.Attributes[name]; ok {
			return a.Expr
		}
	}
	return nil
}

// variableDefault returns the default of a variable, or nil.
func (m *Module) variableDefault(name string) hcl.Expression {
	for _, b := range m.blocks("variable", "") {
		if len(b.Labels) == 1 && b.Labels[0] == name {
			if a, ok := b.Body.Attributes["default"]; ok {
				return a.Expr
			}
		}
	}
	return nil
}

// resolve follows local.X and var.X one step.
func (m *Module) resolve(expr hcl.Expression) hcl.Expression {
	st, ok := expr.(*hclsyntax.ScopeTraversalExpr)
	if !ok || len(st.Traversal) != 2 {
		return expr
	}
	attr, ok := st.Traversal[1].(hcl.TraverseAttr)
	if !ok {
		return expr
	}
	switch st.Traversal.RootName() {
	case "local":
		if e := m.local(attr.Name); e != nil {
			return e
		}
	case "var":
		if e := m.variableDefault(attr.Name); e != nil {
			return e
		}
	}
	return expr
}

// literalKeys returns the literal keys of a map expression (an object
// constructor), or nil.
func literalKeys(expr hcl.Expression) []string {
	pairs, diags := hcl.ExprMap(expr)
	if diags.HasErrors() {
		return nil
	}
	var out []string
	for _, p := range pairs {
		if v, diags := p.Key.Value(nil); !diags.HasErrors() && v.Type() == cty.String && v.IsKnown() {
			out = append(out, v.AsString())
		}
	}
	return out
}

// literalMap returns the literal string entries of a map expression.
func literalMap(expr hcl.Expression) map[string]string {
	pairs, diags := hcl.ExprMap(expr)
	if diags.HasErrors() {
		return nil
	}
	out := map[string]string{}
	for _, p := range pairs {
		k, d1 := p.Key.Value(nil)
		v, d2 := p.Value.Value(nil)
		if d1.HasErrors() || d2.HasErrors() || k.Type() != cty.String || v.Type() != cty.String || !v.IsKnown() {
			continue
		}
		out[k.AsString()] = v.AsString()
	}
	return out
}

// instances returns the instance keys of a resource: the keys of its
// for_each map (followed through local.X or var.X), the elements of a
// literal for_each set, or just its name without for_each.
func (m *Module) instances(b block) []string {
	a, ok := b.Body.Attributes["for_each"]
	if !ok {
		return []string{b.Labels[1]}
	}
	expr := m.resolve(a.Expr)
	if keys := literalKeys(expr); keys != nil {
		return keys
	}
	if v, diags := expr.Value(nil); !diags.HasErrors() && v.CanIterateElements() && v.IsKnown() {
		var out []string
		for it := v.ElementIterator(); it.Next(); {
			if _, e := it.Element(); e.Type() == cty.String {
				out = append(out, e.AsString())
			}
		}
		return out
	}
	return nil
}

// Functions is what the configuration deploys, by function name.
type Functions struct {
	Lambdas   map[string]bool   // has an aws_lambda_function instance
	Routes    map[string]string // route key → function
	Scheduled map[string]bool   // has an EventBridge target
}

// Functions finds the Lambda functions, HTTP routes and schedules.
func (m *Module) Functions() Functions {
	f := Functions{Lambdas: map[string]bool{}, Routes: map[string]string{}, Scheduled: map[string]bool{}}
	for _, b := range m.blocks("resource", "aws_lambda_function") {
		for _, k := range m.instances(b) {
			f.Lambdas[k] = true
		}
	}
	for _, b := range m.blocks("resource", "aws_apigatewayv2_route") {
		// Routes are a for_each map of route key → function.
		if a, ok := b.Body.Attributes["for_each"]; ok {
			for k, v := range literalMap(m.resolve(a.Expr)) {
				f.Routes[k] = v
			}
		}
	}
	for _, b := range m.blocks("resource", "aws_cloudwatch_event_target") {
		for _, k := range m.instances(b) {
			f.Scheduled[k] = true
		}
	}
	return f
}

// CheckFunctions reports each named function without a Lambda, or without
// a route and a schedule; and each Lambda without a route or a schedule.
func (m *Module) CheckFunctions(names []string) []string {
	f := m.Functions()
	routed := map[string]bool{}
	for _, fn := range f.Routes {
		routed[fn] = true
	}
	var problems []string
	for _, n := range names {
		if !f.Lambdas[n] {
			problems = append(problems, fmt.Sprintf("function %s has no aws_lambda_function", n))
		}
	}
	all := map[string]bool{}
	for _, n := range names {
		all[n] = true
	}
	for n := range f.Lambdas {
		all[n] = true
	}
	for _, n := range sortedKeys(all) {
		if f.Lambdas[n] && !routed[n] && !f.Scheduled[n] {
			problems = append(problems, fmt.Sprintf("function %s has neither a route nor a schedule", n))
		}
	}
	for route, fn := range f.Routes {
		if !f.Lambdas[fn] {
			problems = append(problems, fmt.Sprintf("route %q targets %s, which has no aws_lambda_function", route, fn))
		}
	}
	sort.Strings(problems)
	return problems
}

// secretPatterns match credential formats that must never be written in a
// .tf file.
var secretPatterns = []struct {
	name string
	re   *regexp.Regexp
}{
	{"private key", regexp.MustCompile(`-----BEGIN [A-Z ]*PRIVATE KEY-----`)},
	{"AWS access key ID", regexp.MustCompile(`\b(AKIA|ASIA)[0-9A-Z]{16}\b`)},
	{"Stripe key", regexp.MustCompile(`\b(sk|rk|pk)_(live|test)_[0-9A-Za-z]{10,}`)},
	{"Stripe webhook secret", regexp.MustCompile(`\bwhsec_[0-9A-Za-z+/=]{10,}`)},
	{"platform token", regexp.MustCompile(`\boa[a-z]t_[0-9A-Za-z_-]{16,}`)},
	{"Fly token", regexp.MustCompile(`\b(fo1_[0-9A-Za-z_-]{16,}|FlyV1 fm[12][ar]?_)`)},
	{"GitHub token", regexp.MustCompile(`\bgh[pousr]_[0-9A-Za-z]{30,}`)},
	{"Slack token", regexp.MustCompile(`\bxox[abprs]-[0-9A-Za-z-]{10,}`)},
	{"test canary", regexp.MustCompile(`CANARY`)},
}

// secretName matches attribute names that hold a secret when given a
// literal value.
var secretName = regexp.MustCompile(`(?i)(secret|token|password|passwd|private_key|api_key|kek)(_string|_binary|_value)?$`)

// envName is the shape of an environment variable's name: a value like that
// names a secret, it is not one.
var envName = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)

// CheckSecrets reports secret values written in the configuration: strings
// in a credential format, long high-entropy strings, literal values of
// secret-named attributes (secret_string, password…), and defaults of
// secret-named variables.
func (m *Module) CheckSecrets() []string {
	var problems []string
	for _, name := range m.fileNames() {
		walkAttributes(m.files[name], func(path string, a *hclsyntax.Attribute) {
			where := fmt.Sprintf("%s: %s", name, path)
			for _, s := range stringLiterals(a.Expr) {
				if p := secretLooking(s); p != "" {
					problems = append(problems, fmt.Sprintf("%s: %s written in the file", where, p))
				}
			}
			if secretName.MatchString(a.Name) {
				if v, diags := a.Expr.Value(nil); !diags.HasErrors() && v.Type() == cty.String && v.IsKnown() && v.AsString() != "" && !envName.MatchString(v.AsString()) {
					problems = append(problems, fmt.Sprintf("%s: literal value for a secret attribute", where))
				}
			}
		})
	}
	for _, b := range m.blocks("variable", "") {
		if len(b.Labels) != 1 || !secretName.MatchString(b.Labels[0]) {
			continue
		}
		if _, ok := b.Body.Attributes["default"]; ok {
			problems = append(problems, fmt.Sprintf("%s: variable %s holds a secret and has a default", b.file, b.Labels[0]))
		}
		if a, ok := b.Body.Attributes["sensitive"]; !ok || !isTrue(a.Expr) {
			problems = append(problems, fmt.Sprintf("%s: variable %s holds a secret and is not sensitive", b.file, b.Labels[0]))
		}
	}
	sort.Strings(problems)
	return problems
}

// secretLooking names the kind of secret s looks like, or "".
func secretLooking(s string) string {
	for _, p := range secretPatterns {
		if p.re.MatchString(s) {
			return p.name
		}
	}
	for _, w := range strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune(" \t\n\"'/:.,;{}()[]@", r) }) {
		if len(w) >= 32 && entropy(w) > 4.2 {
			return "high-entropy string"
		}
	}
	return ""
}

// entropy is the Shannon entropy of s in bits per byte.
func entropy(s string) float64 {
	var counts [256]int
	for i := 0; i < len(s); i++ {
		counts[s[i]]++
	}
	var h float64
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / float64(len(s))
			h -= p * math.Log2(p)
		}
	}
	return h
}

// CheckIAM reports IAM grants of a wildcard action ("*", "s3:*",
// "s3:Get*"), any NotAction, and Allow statements on every resource ("*"),
// in aws_iam_policy_document statements and in jsonencode or literal JSON
// policies; and attachments of AWS's broad managed policies.
func (m *Module) CheckIAM() []string {
	var problems []string
	add := func(where, format string, args ...any) {
		problems = append(problems, where+": "+fmt.Sprintf(format, args...))
	}
	for _, b := range m.blocks("data", "aws_iam_policy_document") {
		for i, st := range b.Body.Blocks {
			if st.Type != "statement" {
				continue
			}
			where := fmt.Sprintf("%s: data.aws_iam_policy_document.%s statement %d", b.file, b.Labels[1], i)
			allow := true
			if a, ok := st.Body.Attributes["effect"]; ok {
				if v, d := a.Expr.Value(nil); !d.HasErrors() && v.Type() == cty.String && v.AsString() == "Deny" {
					allow = false
				}
			}
			if _, ok := st.Body.Attributes["not_actions"]; ok && allow {
				add(where, "not_actions grants every other action")
			}
			if _, ok := st.Body.Attributes["not_resources"]; ok && allow {
				add(where, "not_resources grants every other resource")
			}
			if a, ok := st.Body.Attributes["actions"]; ok && allow {
				for _, s := range stringElems(a.Expr) {
					if strings.Contains(s, "*") {
						add(where, "wildcard action %q", s)
					}
				}
			}
			if a, ok := st.Body.Attributes["resources"]; ok && allow {
				for _, s := range stringElems(a.Expr) {
					if s == "*" {
						add(where, "every resource (\"*\")")
					}
				}
			}
		}
	}
	for _, name := range m.fileNames() {
		walkAttributes(m.files[name], func(path string, a *hclsyntax.Attribute) {
			where := fmt.Sprintf("%s: %s", name, path)
			switch a.Name {
			case "policy", "assume_role_policy", "inline_policy":
				for _, p := range checkPolicyExpr(a.Expr) {
					add(where, "%s", p)
				}
			case "policy_arn", "managed_policy_arns":
				for _, s := range stringLiterals(a.Expr) {
					if strings.Contains(s, "AdministratorAccess") || strings.Contains(s, "FullAccess") || strings.HasSuffix(s, ":policy/PowerUserAccess") {
						add(where, "broad managed policy %q", s)
					}
				}
			}
		})
	}
	sort.Strings(problems)
	return problems
}

// checkPolicyExpr checks a policy given as jsonencode({...}) or as a JSON
// string (heredoc or quoted; interpolations read as opaque strings).
func checkPolicyExpr(expr hclsyntax.Expression) []string {
	switch e := expr.(type) {
	case *hclsyntax.FunctionCallExpr:
		if e.Name == "jsonencode" && len(e.Args) == 1 {
			var problems []string
			walkObject(e.Args[0], func(key string, val hclsyntax.Expression, allow bool) {
				problems = append(problems, checkStatementItem(key, stringElems(val), allow)...)
			}, true)
			return problems
		}
	case *hclsyntax.TemplateExpr, *hclsyntax.LiteralValueExpr, *hclsyntax.TemplateWrapExpr:
		text := renderTemplate(expr)
		var doc struct {
			Statement json.RawMessage
		}
		if json.Unmarshal([]byte(text), &doc) != nil {
			return nil // not literal JSON: a reference to a policy document
		}
		var sts []map[string]any
		if json.Unmarshal(doc.Statement, &sts) != nil {
			var one map[string]any
			if json.Unmarshal(doc.Statement, &one) != nil {
				return []string{"policy Statement is not an object or a list"}
			}
			sts = []map[string]any{one}
		}
		var problems []string
		for _, st := range sts {
			allow := st["Effect"] != "Deny"
			for _, k := range []string{"Action", "NotAction", "Resource", "NotResource"} {
				if v, ok := st[k]; ok {
					problems = append(problems, checkStatementItem(k, jsonStrings(v), allow)...)
				}
			}
		}
		return problems
	}
	return nil
}

func checkStatementItem(key string, vals []string, allow bool) []string {
	if !allow {
		return nil
	}
	var problems []string
	switch key {
	case "NotAction":
		problems = append(problems, "NotAction grants every other action")
	case "NotResource":
		problems = append(problems, "NotResource grants every other resource")
	case "Action":
		for _, s := range vals {
			if strings.Contains(s, "*") {
				problems = append(problems, fmt.Sprintf("wildcard action %q", s))
			}
		}
	case "Resource":
		for _, s := range vals {
			if s == "*" {
				problems = append(problems, "every resource (\"*\")")
			}
		}
	}
	return problems
}

// walkObject calls fn for each key of each object constructor under expr,
// with whether the enclosing statement allows (no "Effect" = "Deny").
func walkObject(expr hclsyntax.Expression, fn func(key string, val hclsyntax.Expression, allow bool), allow bool) {
	switch e := expr.(type) {
	case *hclsyntax.ObjectConsExpr:
		for _, it := range e.Items {
			if k, d := it.KeyExpr.Value(nil); !d.HasErrors() && k.Type() == cty.String && k.AsString() == "Effect" {
				if v, d := it.ValueExpr.Value(nil); !d.HasErrors() && v.Type() == cty.String && v.AsString() == "Deny" {
					allow = false
				}
			}
		}
		for _, it := range e.Items {
			k, d := it.KeyExpr.Value(nil)
			if !d.HasErrors() && k.Type() == cty.String {
				fn(k.AsString(), it.ValueExpr, allow)
			}
			walkObject(it.ValueExpr, fn, allow)
		}
	case *hclsyntax.TupleConsExpr:
		for _, x := range e.Exprs {
			walkObject(x, fn, allow)
		}
	}
}

// walkAttributes calls fn for every attribute of body and its nested blocks,
// with a dotted path naming it.
func walkAttributes(body *hclsyntax.Body, fn func(path string, a *hclsyntax.Attribute)) {
	var walk func(prefix string, b *hclsyntax.Body)
	walk = func(prefix string, b *hclsyntax.Body) {
		for _, name := range sortedKeys(b.Attributes) {
			fn(prefix+name, b.Attributes[name])
		}
		for _, blk := range b.Blocks {
			walk(prefix+strings.Join(append([]string{blk.Type}, blk.Labels...), ".")+".", blk.Body)
		}
	}
	walk("", body)
}

// stringLiterals returns every literal string in expr, template parts and
// object keys included.
func stringLiterals(expr hclsyntax.Expression) []string {
	var out []string
	_ = hclsyntax.VisitAll(expr, func(n hclsyntax.Node) hcl.Diagnostics {
		if lit, ok := n.(*hclsyntax.LiteralValueExpr); ok && lit.Val.Type() == cty.String && lit.Val.IsKnown() {
			out = append(out, lit.Val.AsString())
		}
		return nil
	})
	return out
}

// stringElems returns the literal strings of a string or a list of strings;
// non-literal elements are left out.
func stringElems(expr hclsyntax.Expression) []string {
	switch e := expr.(type) {
	case *hclsyntax.TupleConsExpr:
		var out []string
		for _, x := range e.Exprs {
			out = append(out, stringElems(x)...)
		}
		return out
	}
	if v, d := expr.Value(nil); !d.HasErrors() && v.Type() == cty.String && v.IsKnown() {
		return []string{v.AsString()}
	}
	return nil
}

// renderTemplate renders a template's literal parts, each interpolation as
// the string "REF".
func renderTemplate(expr hclsyntax.Expression) string {
	switch e := expr.(type) {
	case *hclsyntax.TemplateWrapExpr:
		return "REF"
	case *hclsyntax.LiteralValueExpr:
		if e.Val.Type() == cty.String {
			return e.Val.AsString()
		}
	case *hclsyntax.TemplateExpr:
		var b strings.Builder
		for _, p := range e.Parts {
			if lit, ok := p.(*hclsyntax.LiteralValueExpr); ok && lit.Val.Type() == cty.String {
				b.WriteString(lit.Val.AsString())
			} else {
				b.WriteString("REF")
			}
		}
		return b.String()
	}
	return ""
}

func jsonStrings(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func isTrue(expr hclsyntax.Expression) bool {
	v, d := expr.Value(nil)
	return !d.HasErrors() && v.Type() == cty.Bool && v.True()
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// CmdFunctions lists the functions with a Lambda main: the directories under
// root/functions/cmd holding Go files, except trust-functions (the local
// server of all of them).
func CmdFunctions(root string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(root, "functions", "cmd"))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() || e.Name() == "trust-functions" {
			continue
		}
		if gos, _ := filepath.Glob(filepath.Join(root, "functions", "cmd", e.Name(), "*.go")); len(gos) > 0 {
			out = append(out, e.Name())
		}
	}
	return out, nil
}
