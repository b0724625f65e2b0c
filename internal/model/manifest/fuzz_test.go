package manifest

import (
	"strings"
	"testing"
)

// FuzzDecodeManifests feeds arbitrary bytes to the decoder: it must never panic, and every
// object it returns must say what it is.
func FuzzDecodeManifests(f *testing.F) {
	f.Add([]byte("apiVersion: flarecast.io/v1alpha1\nkind: Cluster\nmetadata: {name: edge}\nspec: {domain: 3}\n"))
	f.Add([]byte("---\n---\n# only a comment\n"))
	f.Add([]byte(`{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"ConfigMap"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, errs := Decode("fuzz", strings.NewReader(string(data)))
		for _, o := range objs {
			if o.GVK().Kind == "" || o.Object["apiVersion"] == nil || o.Doc < 1 {
				t.Fatalf("object without apiVersion, kind or document: %+v", o)
			}
			_ = o.Name()
			_ = o.Namespace()
		}
		for _, e := range errs {
			if e.Error() == "" {
				t.Fatal("empty error")
			}
		}
	})
}
