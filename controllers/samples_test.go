package controllers_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flarecast/flarecast/internal/cli"
)

// newNamespace gives a test its own namespace, so tests that break the model in different
// ways do not see each other; it is deleted when the test ends.
func newNamespace(t *testing.T) string {
	t.Helper()
	name := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	if len(name) > 50 {
		name = name[:50]
	}
	name = strings.Trim(name, "-") + fmt.Sprintf("-%d", nsCounter())
	ns := &corev1.Namespace{}
	ns.Name = name
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), ns) })
	return name
}

var nsSeq int

func nsCounter() int { nsSeq++; return nsSeq }

// readManifests decodes every object of the given YAML files (paths relative to the
// repository root), typed with the flarecast scheme.
func readManifests(t *testing.T, paths ...string) []client.Object {
	t.Helper()
	var objs []client.Object
	for _, p := range paths {
		data, err := os.ReadFile(filepath.Join("..", p))
		if err != nil {
			t.Fatal(err)
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			u := &unstructured.Unstructured{}
			if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("decode %s: %v", p, err)
			}
			if len(u.Object) == 0 {
				continue
			}
			typed, err := cli.Scheme().New(u.GroupVersionKind())
			if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, typed); err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			objs = append(objs, typed.(client.Object))
		}
	}
	return objs
}

// sampleSite is the full telco edge site of config/samples.
var sampleSite = []string{
	"config/samples/machine.yaml",
	"config/samples/network.yaml",
	"config/samples/cluster.yaml",
	"config/samples/nodesgroups.yaml",
	"config/samples/flasharchive.yaml",
}

// createAll creates objs in namespace ns, failing the test on the first refusal.
func createAll(t *testing.T, ns string, objs []client.Object) {
	t.Helper()
	for _, o := range objs {
		o.SetNamespace(ns)
		if err := k8s.Create(context.Background(), o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}
}

func objMeta(ns, name string) metav1.ObjectMeta { return metav1.ObjectMeta{Namespace: ns, Name: name} }

// update re-reads obj and applies change until the write does not conflict: the controllers
// patch status (which bumps resourceVersion) while the test edits spec.
func update(t *testing.T, obj client.Object, change func(client.Object)) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		change(obj)
		return k8s.Update(context.Background(), obj)
	})
	if err != nil {
		t.Fatalf("update %s %s: %v", kindName(obj), obj.GetName(), err)
	}
}
