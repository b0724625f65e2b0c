package controllers

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestArchiveReasonsAreDocumented keeps docs/archives-in-kubernetes.md's tables of reasons in
// step with the constants: a reason a user can see is one they can look up.
func TestArchiveReasonsAreDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/archives-in-kubernetes.md")
	if err != nil {
		t.Fatal(err)
	}
	f, err := parser.ParseFile(token.NewFileSet(), "flasharchive_controller_reasons.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	ast.Inspect(f, func(node ast.Node) bool {
		lit, ok := node.(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			return true
		}
		reason, _ := strconv.Unquote(lit.Value)
		n++
		if !strings.Contains(string(doc), "| `"+reason+"` |") {
			t.Errorf("docs/archives-in-kubernetes.md has no table row for reason %s", reason)
		}
		return true
	})
	if n < 10 {
		t.Fatalf("found only %d reasons in flasharchive_controller_reasons.go", n)
	}
}
