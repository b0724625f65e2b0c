package executor

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A job's namespace and name become directories under Dir: names that are not Kubernetes
// names ("", "..", "a/b") are refused, since Forget removes the job's directory and
// "ns/.." is Dir itself, with every other job's state.
func TestLocalRefusesNamesThatAreNotKubernetesNames(t *testing.T) {
	dir := t.TempDir()
	d := newDone()
	l, err := NewLocal(LocalOptions{Dir: dir, Command: sh(`echo '{"digest":"sha256:1"}' > "$4"`), OnDone: d.on})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := l.Submit(ctx, Spec{Namespace: "ns", Name: "kept", Owner: owner("kept"), Request: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	d.wait(t, "ns/kept")
	for _, tc := range []struct{ ns, name string }{{"ns", ".."}, {"ns", ""}, {"", "job"}, {"..", "ns"}, {"ns", "a/b"}, {"ns", "UPPER"}} {
		err := l.Submit(ctx, Spec{Namespace: tc.ns, Name: tc.name, Owner: owner("x"), Request: []byte(`{}`)})
		if err == nil || !strings.Contains(err.Error(), "not a valid") {
			t.Errorf("submit %q/%q: %v, want a refusal", tc.ns, tc.name, err)
		}
		l.Forget(ctx, tc.ns, tc.name)
	}
	if _, err := os.Stat(filepath.Join(dir, "ns", "kept", stateFile)); err != nil {
		t.Fatalf("another job's state after the refused submissions: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, requestFile)); !os.IsNotExist(err) {
		t.Fatalf("a refused submission wrote into the state directory itself: %v", err)
	}
}
