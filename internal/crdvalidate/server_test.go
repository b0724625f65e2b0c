package crdvalidate

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"
)

// server is the one kube-apiserver the tests of this package share; TestMain stops it.
var server struct {
	sync.Mutex
	env    *envtest.Environment
	client client.Client
}

func TestMain(m *testing.M) {
	code := m.Run()
	server.Lock()
	if server.env != nil {
		if err := server.env.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stop API server: %v\n", err)
			code = 1
		}
	}
	server.Unlock()
	os.Exit(code)
}

// startServer starts a real kube-apiserver with the CRDs the first time a test asks, or skips
// when its binaries are absent and FLARECAST_REQUIRE_PEERS is unset.
func startServer(t *testing.T) client.Client {
	t.Helper()
	server.Lock()
	defer server.Unlock()
	if server.client != nil {
		return server.client
	}
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		if local, _ := filepath.Abs("../../bin/k8s"); fileExists(filepath.Join(local, "kube-apiserver")) {
			assets = local
		}
	}
	if assets == "" {
		if os.Getenv("FLARECAST_REQUIRE_PEERS") != "" {
			t.Fatal("no kube-apiserver: run hack/envtest-assets.sh (make test does) or set KUBEBUILDER_ASSETS")
		}
		t.Skip("no kube-apiserver in KUBEBUILDER_ASSETS or bin/k8s: run hack/envtest-assets.sh")
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{"../../config/crd/bases"},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
	}
	cfg, err := env.Start()
	if err != nil {
		_ = env.Stop()
		t.Fatalf("start API server: %v", err)
	}
	server.env = env
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	server.client = c
	return c
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// corpus is every flarecast document of the samples and of model check's testdata.
func corpus(t *testing.T) []map[string]any {
	t.Helper()
	var files []string
	for _, dir := range []string{"../../config/samples", "../model/check/testdata"} {
		_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml") || strings.HasSuffix(p, ".json")) {
				files = append(files, p)
			}
			return nil
		})
	}
	sort.Strings(files)
	var objs []map[string]any
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range strings.Split(string(data), "\n---") {
			js, err := yaml.YAMLToJSON([]byte(doc))
			if err != nil {
				continue // the not-YAML case
			}
			var obj map[string]any
			if utiljson.Unmarshal(js, &obj) != nil || obj == nil {
				continue
			}
			if api, _ := obj["apiVersion"].(string); strings.HasPrefix(api, "flarecast.io/") {
				delete(obj["metadata"].(map[string]any), "namespace")
				objs = append(objs, obj)
			}
		}
	}
	if len(objs) < 20 {
		t.Fatalf("corpus of %d objects", len(objs))
	}
	return objs
}

// The offline validator agrees with the API server: what it admits the server creates, with
// the same defaults, and what it refuses the server refuses. The corpus is the samples, the
// testdata, and random edits of them.
func TestAdmitAgreesWithTheAPIServer(t *testing.T) {
	c := startServer(t)
	v := load(t)
	base := corpus(t)
	objs := append([]map[string]any(nil), base...)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 400 {
		o := deepCopy(base[rng.IntN(len(base))])
		for range 1 + rng.IntN(2) {
			edit(rng, o)
		}
		objs = append(objs, o)
	}
	accepted, refused := 0, 0
	for i, obj := range objs {
		offline := deepCopy(obj)
		errs := v.Admit(context.Background(), offline)
		u := &unstructured.Unstructured{Object: deepCopy(obj)}
		u.SetNamespace("default")
		err := c.Create(context.Background(), u, client.DryRunAll, client.FieldValidation("Strict"))
		describe := func() string {
			b, _ := json.Marshal(obj)
			return fmt.Sprintf("object %d: %s\noffline: %v\nserver: %v", i, b, errs, err)
		}
		switch {
		case err == nil && len(errs) > 0:
			t.Errorf("the server accepts what Admit refuses:\n%s", describe())
		case err != nil && len(errs) == 0:
			t.Errorf("Admit accepts what the server refuses:\n%s", describe())
		case err == nil:
			accepted++
			if !reflect.DeepEqual(u.Object["spec"], offline["spec"]) {
				s, _ := json.Marshal(u.Object["spec"])
				o, _ := json.Marshal(offline["spec"])
				t.Errorf("object %d: defaults differ:\nserver:  %s\noffline: %s", i, s, o)
			}
		default:
			refused++
			// The same words, not only the same verdict: each error Admit gives is in the
			// server's answer (model check prints them), unless the server stopped at an
			// unknown field, which it reports in words of its own.
			if strings.Contains(err.Error(), "strict decoding error") {
				break
			}
			for _, e := range errs {
				if !strings.Contains(err.Error(), e.Error()) {
					t.Errorf("object %d: the server does not say %q:\n%s", i, e.Error(), describe())
				}
			}
		}
	}
	t.Logf("%d objects: %d accepted by both, %d refused by both", len(objs), accepted, refused)
	if accepted < 20 || refused < 20 {
		t.Errorf("a corpus that tests little: %d accepted, %d refused", accepted, refused)
	}
}

func deepCopy(m map[string]any) map[string]any {
	return runtimeDeepCopy(m).(map[string]any)
}

func runtimeDeepCopy(x any) any {
	switch v := x.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = runtimeDeepCopy(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = runtimeDeepCopy(e)
		}
		return out
	}
	return x
}

// edit changes one random place of the spec: a new value, a deletion, an unknown field next to
// a known one, or a list entry given twice.
func edit(rng *rand.Rand, obj map[string]any) {
	values := []any{"", "x", "amd64", "sparc", "Diskless", "MasterEligible", "Static", "198.18.0.1",
		"198.18.0.0/16", "10Gi", "1.5Ti", "shelf0/d1", "/", "/var", "02:00:00:00:00:01", "UPPER",
		"02:00:00:00:00:01:02", "02:00:00:00:00:0A", "198.18.0.1/16", "/etc/../x",
		int64(-1), int64(0), int64(1), int64(25), int64(300), int64(70000), true, nil}
	m, ok := obj["spec"].(map[string]any)
	if !ok {
		return
	}
	for {
		if len(m) == 0 {
			return
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		k := keys[rng.IntN(len(keys))]
		switch child := m[k].(type) {
		case map[string]any:
			if rng.IntN(4) > 0 {
				m = child
				continue
			}
		case []any:
			if len(child) > 0 && rng.IntN(4) > 0 {
				item := child[rng.IntN(len(child))]
				if rng.IntN(3) == 0 {
					m[k] = append(child, runtimeDeepCopy(item))
					return
				}
				if next, ok := item.(map[string]any); ok {
					m = next
					continue
				}
			}
		}
		switch rng.IntN(4) {
		case 0:
			delete(m, k)
		case 1:
			m[k+"x"] = values[rng.IntN(len(values))]
		default:
			m[k] = values[rng.IntN(len(values))]
		}
		return
	}
}
