package executor

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// When an owner goes away, its builds go too, running or waiting: a build left running would
// tag its archive after the controller untagged it, and keep its state directory forever, as
// nobody is left to forget it. This matches the Job executor, whose Jobs the garbage collector
// deletes with their owner.
func TestForgetOwnerStopsItsRunningAndWaitingBuilds(t *testing.T) {
	dir, marks := t.TempDir(), t.TempDir()
	release := filepath.Join(marks, "release")
	// Each build writes its pid, waits for the release file, then writes its result.
	script := `echo $$ > "` + marks + `/$(basename $(dirname "$2"))"; while [ ! -e "` + release + `" ]; do sleep 0.05; done; echo '{"digest":"sha256:1"}' > "$4"`
	l, err := NewLocal(LocalOptions{Dir: dir, Command: sh(script), Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, n := range []string{"running", "waiting"} {
		if err := l.Submit(ctx, Spec{Namespace: "ns", Name: n, Owner: owner("gone"), Request: []byte(n)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Submit(ctx, Spec{Namespace: "ns", Name: "other", Owner: owner("stays"), Request: []byte("other")}); err != nil {
		t.Fatal(err)
	}
	var pid int
	for deadline := time.Now().Add(20 * time.Second); pid == 0; time.Sleep(20 * time.Millisecond) {
		if b, err := os.ReadFile(filepath.Join(marks, "running")); err == nil && strings.HasSuffix(string(b), "\n") {
			pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
		if time.Now().After(deadline) {
			t.Fatal("the first build did not start")
		}
	}
	if err := l.ForgetOwner(ctx, "ns", "gone"); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"running", "waiting"} {
		if s, _ := l.State(ctx, "ns", n); s.Phase != Unknown {
			t.Errorf("job %s of a forgotten owner: %+v", n, s)
		}
		if _, err := os.Stat(filepath.Join(dir, "ns", n)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("job %s of a forgotten owner kept its directory: %v", n, err)
		}
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("the running build (pid %d) still runs after ForgetOwner: %v", pid, err)
	}
	// The other owner's build takes the freed slot and finishes.
	os.WriteFile(release, nil, 0o644)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if s, _ := l.State(ctx, "ns", "other"); s.Phase == Succeeded {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("the other owner's build: %+v", s)
		}
	}
	if _, err := os.Stat(filepath.Join(marks, "waiting")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the waiting build of a forgotten owner started: %v", err)
	}
}
