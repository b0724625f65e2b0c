package manifest

import (
	"errors"
	"strings"
	"testing"
)

func TestDecodeDocumentsListsAndNumbers(t *testing.T) {
	in := `# leading comment only
---
apiVersion: flarecast.io/v1alpha1
kind: Cluster
metadata: {name: edge, namespace: site}
spec: {domain: 3}
---
---
apiVersion: v1
kind: List
items:
- {apiVersion: flarecast.io/v1alpha1, kind: Network, metadata: {name: a}}
- {apiVersion: flarecast.io/v1alpha1, kind: Network, metadata: {name: b}}
`
	objs, errs := Decode("in.yaml", strings.NewReader(in))
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	if len(objs) != 3 {
		t.Fatalf("got %d objects", len(objs))
	}
	if o := objs[0]; o.Doc != 2 || o.Name() != "edge" || o.Namespace() != "site" || o.GVK().Kind != "Cluster" {
		t.Errorf("first object %+v", o)
	}
	if d := objs[0].Object["spec"].(map[string]any)["domain"]; d != int64(3) {
		t.Errorf("domain decoded as %T %v, want int64 as the server decodes it", d, d)
	}
	if objs[1].Name() != "a" || objs[2].Name() != "b" || objs[2].Doc != 3 {
		t.Errorf("list items %+v %+v", objs[1], objs[2])
	}
}

func TestDecodeJSON(t *testing.T) {
	objs, errs := Decode("in.json", strings.NewReader(`{"apiVersion": "flarecast.io/v1alpha1", "kind": "Machine", "metadata": {"name": "m"}}`))
	if len(errs) != 0 || len(objs) != 1 || objs[0].Name() != "m" {
		t.Fatalf("%v %v", objs, errs)
	}
}

func TestDecodeErrorsNameTheDocument(t *testing.T) {
	in := "apiVersion: v1\nkind: A\nmetadata: {name: a}\n---\nkind: B\n---\napiVersion: v1\nkind: C\nkind: D\n---\n- a list\n---\napiVersion: v1\nkind: E\nmetadata: [x]\n"
	objs, errs := Decode("in.yaml", strings.NewReader(in))
	if len(objs) != 1 || objs[0].GVK().Kind != "A" {
		t.Fatalf("objects %v", objs)
	}
	want := []string{
		"in.yaml: document 2: apiVersion is missing or not a string",
		`in.yaml: document 3: decode: yaml: unmarshal errors:`,
		"in.yaml: document 4: decode: a manifest is a mapping",
		"in.yaml: document 5: metadata must be a mapping",
	}
	if len(errs) != len(want) {
		t.Fatalf("errors %v", errs)
	}
	for i, w := range want {
		var e *Error
		if !errors.As(errs[i], &e) || !strings.HasPrefix(errs[i].Error(), w) {
			t.Errorf("error %d: %q, want prefix %q", i, errs[i], w)
		}
	}
}
