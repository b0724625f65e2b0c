package crdvalidate

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	crd "github.com/flarecast/flarecast/config/crd"
)

func load(t *testing.T) *Validator {
	t.Helper()
	v, err := Load(crd.Bases, "bases")
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func admit(t *testing.T, v *Validator, manifest string) (map[string]any, field.ErrorList) {
	t.Helper()
	data, err := yaml.YAMLToJSONStrict([]byte(manifest))
	if err != nil {
		t.Fatal(err)
	}
	obj := map[string]any{}
	if err := json.Unmarshal(data, &obj); err != nil {
		t.Fatal(err)
	}
	return obj, v.Admit(context.Background(), obj)
}

const group = `
apiVersion: flarecast.io/v1alpha1
kind: NodesGroup
metadata: {name: workers}
spec:
  clusterRef: {name: edge}
  role: NonMasterEligible
  nodeType: Diskless
  os: {name: debian}
  arch: amd64
  nodes: [{name: w1, id: 10, drawer: shelf0/d4}]
`

func TestAdmitsAndDefaults(t *testing.T) {
	v := load(t)
	obj, errs := admit(t, v, `
apiVersion: flarecast.io/v1alpha1
kind: Cluster
metadata: {name: edge}
spec: {domain: 3}
`)
	if len(errs) != 0 {
		t.Fatalf("errors: %v", errs)
	}
	spec := obj["spec"].(map[string]any)
	if spec["masterEligiblePolicy"] != "Require" {
		t.Errorf("default masterEligiblePolicy not applied: %v", spec)
	}
	if _, errs := admit(t, v, group); len(errs) != 0 {
		t.Fatalf("group: %v", errs)
	}
}

func TestRejectsACELRule(t *testing.T) {
	_, errs := admit(t, load(t), strings.Replace(group, "role: NonMasterEligible", "role: MasterEligible", 1))
	if len(errs) != 1 || errs[0].Field != "spec" || !strings.Contains(errs[0].Detail, "a Diskless group cannot be MasterEligible") {
		t.Fatalf("got %v", errs)
	}
}

func TestRejectsSchemaViolations(t *testing.T) {
	_, errs := admit(t, load(t), strings.Replace(group, "arch: amd64", "arch: sparc", 1))
	if len(errs) < 1 || errs[0].Field != "spec.arch" || errs[0].Type != field.ErrorTypeNotSupported {
		t.Fatalf("got %v", errs)
	}
}

func TestRejectsUnknownFields(t *testing.T) {
	_, errs := admit(t, load(t), strings.Replace(group, "arch: amd64", "arch: amd64\n  colour: blue", 1))
	if len(errs) != 1 || errs[0].Field != "spec.colour" || !strings.Contains(errs[0].Detail, "unknown field") {
		t.Fatalf("got %v", errs)
	}
}

func TestRejectsDuplicateMapKeys(t *testing.T) {
	_, errs := admit(t, load(t), strings.Replace(group, "nodes: [{name: w1, id: 10, drawer: shelf0/d4}]", "nodes: [{name: w1, id: 10}, {name: w1, id: 11}]", 1))
	if len(errs) == 0 || errs[0].Type != field.ErrorTypeDuplicate {
		t.Fatalf("got %v", errs)
	}
}

func TestRejectsBadNames(t *testing.T) {
	_, errs := admit(t, load(t), strings.Replace(group, "name: workers", "name: Workers_1", 1))
	if len(errs) != 1 || errs[0].Field != "metadata.name" {
		t.Fatalf("got %v", errs)
	}
}

func TestUnknownKind(t *testing.T) {
	_, errs := admit(t, load(t), "apiVersion: flarecast.io/v1alpha1\nkind: Shelf\nmetadata: {name: a}\n")
	if len(errs) != 1 || errs[0].Field != "kind" {
		t.Fatalf("got %v", errs)
	}
}
