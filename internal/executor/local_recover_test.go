package executor

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// One job's unreadable state.json (a disk error, a hand edit) must not keep the manager from
// starting, which would stop every build: the job is taken as interrupted, with a message that
// names the file, and runs again when submitted.
func TestAnUnreadableStateFileDoesNotStopTheRestart(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "ns", "garbled")
	os.MkdirAll(bad, 0o755)
	os.WriteFile(filepath.Join(bad, requestFile), []byte(`{}`), 0o644)
	os.WriteFile(filepath.Join(bad, stateFile), []byte(`{"namespace":"ns","na`), 0o644)
	d := newDone()
	l, err := NewLocal(LocalOptions{Dir: dir, Command: sh(`echo '{"digest":"sha256:again"}' > "$4"`), OnDone: d.on})
	if err != nil {
		t.Fatalf("restart with one unreadable state file: %v", err)
	}
	ctx := context.Background()
	s, _ := l.State(ctx, "ns", "garbled")
	if s.Phase != Failed || !s.Retryable || !strings.Contains(s.Message, filepath.Join(bad, stateFile)) {
		t.Fatalf("job with an unreadable state: %+v", s)
	}
	if err := l.Submit(ctx, Spec{Namespace: "ns", Name: "garbled", Owner: owner("garbled"), Request: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	d.wait(t, "ns/garbled")
	if s, _ := l.State(ctx, "ns", "garbled"); s.Phase != Succeeded || s.Digest != "sha256:again" {
		t.Fatalf("resubmitted job: %+v", s)
	}
}
