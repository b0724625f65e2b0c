package model

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// conditionReason is the pattern metav1.Condition's Reason must match.
var conditionReason = regexp.MustCompile(`^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$`)

// declaredReasons parses reasons.go and returns each Reason constant's name, value and doc.
func declaredReasons(t *testing.T) map[string]struct{ value, doc string } {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "reasons.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]struct{ value, doc string }{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Reason" || len(vs.Names) != 1 || len(vs.Values) != 1 {
				t.Errorf("reasons.go: %v: declare one typed Reason constant per line", vs.Names)
				continue
			}
			lit, ok := vs.Values[0].(*ast.BasicLit)
			if !ok {
				t.Errorf("reasons.go: %s: the value must be a string literal", vs.Names[0])
				continue
			}
			v, _ := strconv.Unquote(lit.Value)
			out[vs.Names[0].Name] = struct{ value, doc string }{v, vs.Doc.Text()}
		}
	}
	return out
}

func TestReasonsAreDocumentedConditionReasonsNamedAfterTheirValue(t *testing.T) {
	reasons := declaredReasons(t)
	if len(reasons) < 40 {
		t.Fatalf("only %d reasons parsed from reasons.go", len(reasons))
	}
	values := map[string]string{}
	for name, r := range reasons {
		if !conditionReason.MatchString(r.value) {
			t.Errorf("%s = %q is not a valid condition reason", name, r.value)
		}
		if name != "Reason"+r.value {
			t.Errorf("%s = %q: name the constant Reason%s", name, r.value, r.value)
		}
		if !strings.HasPrefix(r.doc, name+": ") {
			t.Errorf("%s has no doc comment saying which rule it names", name)
		}
		if o, dup := values[r.value]; dup {
			t.Errorf("%s and %s are both %q", name, o, r.value)
		}
		values[r.value] = name
	}
}

// TestEveryProblemNamesADeclaredReason reads the package's sources: every call that records a
// problem passes a Reason constant of reasons.go (not a literal, not a computed value), and
// every constant is used, so a reason can neither be forgotten nor left stale.
func TestEveryProblemNamesADeclaredReason(t *testing.T) {
	reasons := declaredReasons(t)
	recorders := map[string]bool{"add": true, "problem": true, "missingf": true, "warnf": true}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]int{}
	fset := token.NewFileSet()
	calls := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok {
				continue
			}
			// The recorders pass their own reason parameter on to add.
			forwarding := recorders[fn.Name.Name]
			ast.Inspect(fn, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok || !recorders[sel.Sel.Name] {
					return true
				}
				calls++
				at := fset.Position(call.Pos())
				id, ok := call.Args[0].(*ast.Ident)
				switch {
				case !ok:
					t.Errorf("%s: %s passes %T as its reason: pass a Reason constant", at, sel.Sel.Name, call.Args[0])
				case forwarding && id.Name == "reason":
				case reasons[id.Name].value == "":
					t.Errorf("%s: %s passes %s, which is not a Reason constant of reasons.go", at, sel.Sel.Name, id.Name)
				default:
					used[id.Name]++
				}
				return true
			})
		}
	}
	if calls < 60 {
		t.Errorf("found only %d calls that record a problem: has a recorder been renamed?", calls)
	}
	for name := range reasons {
		if used[name] == 0 {
			t.Errorf("%s is declared but no problem gives it", name)
		}
	}
}
