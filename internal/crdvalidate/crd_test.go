package crdvalidate

import (
	"context"
	"io/fs"
	"testing"

	apiextensionsinternal "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsvalidation "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/validation"
	"sigs.k8s.io/yaml"

	crd "github.com/flarecast/flarecast/config/crd"
)

// TestTheServerWouldCreateTheCRDs runs the API server's own validation of a created CRD on each
// of ours: every CEL rule and messageExpression compiles, and each one's estimated cost, and the
// schema's total, are within the server's budgets. A rule over budget fails here in a second,
// before an envtest suite fails to install the CRDs. (Kept in a test: the validation package
// would add megabytes of API server to the flarecast binary.)
func TestTheServerWouldCreateTheCRDs(t *testing.T) {
	names, err := fs.Glob(crd.Bases, "bases/*.yaml")
	if err != nil || len(names) < 5 {
		t.Fatalf("CRDs: %v %v", names, err)
	}
	for _, name := range names {
		data, err := fs.ReadFile(crd.Bases, name)
		if err != nil {
			t.Fatal(err)
		}
		in := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.UnmarshalStrict(data, in); err != nil {
			t.Fatal(err)
		}
		apiextensionsv1.SetObjectDefaults_CustomResourceDefinition(in)
		out := &apiextensionsinternal.CustomResourceDefinition{}
		if err := apiextensionsv1.Convert_v1_CustomResourceDefinition_To_apiextensions_CustomResourceDefinition(in, out, nil); err != nil {
			t.Fatal(err)
		}
		for _, e := range apiextensionsvalidation.ValidateCustomResourceDefinition(context.Background(), out) {
			t.Errorf("%s: %v", name, e)
		}
	}
}
