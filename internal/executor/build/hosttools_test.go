package build

import (
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"strconv"
	"testing"
)

// Every program the build starts with command() is one of HostTools, which the build image
// installs (internal/executor's Dockerfile test checks that side).
func TestEveryToolTheBuildRunsIsAHostTool(t *testing.T) {
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, ".", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for _, f := range pkgs["build"].Files {
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) < 3 {
				return true
			}
			if id, ok := call.Fun.(*ast.Ident); !ok || id.Name != "command" {
				return true
			}
			lit, ok := call.Args[2].(*ast.BasicLit)
			if !ok {
				t.Errorf("%s: command() with a program that is not a literal", fset.Position(call.Pos()))
				return true
			}
			name, _ := strconv.Unquote(lit.Value)
			seen = append(seen, name)
			if !slices.Contains(HostTools, name) {
				t.Errorf("%s: the build runs %s, which HostTools lacks", fset.Position(call.Pos()), name)
			}
			return true
		})
	}
	if !slices.Contains(seen, "unshare") {
		t.Fatalf("found the build's tools %v: the parse missed the calls", seen)
	}
}
