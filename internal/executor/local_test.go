package executor

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// sh runs script with sh; the executor appends --request FILE --result FILE, so the script
// sees them as $2 and $4.
func sh(script string) []string { return []string{"/bin/sh", "-c", script, "sh"} }

// done collects OnDone calls.
type done struct{ ch chan string }

// owner names a job's owner after the job, so OnDone reports the job's name.
func owner(name string) metav1.OwnerReference { return metav1.OwnerReference{Name: name} }

func newDone() *done { return &done{ch: make(chan string, 16)} }

func (d *done) on(ns, name string) { d.ch <- ns + "/" + name }

func (d *done) wait(t *testing.T, want string) {
	t.Helper()
	select {
	case got := <-d.ch:
		if got != want {
			t.Fatalf("OnDone for %s, want %s", got, want)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("no OnDone for %s", want)
	}
}

func TestLocalReportsWhatTheBuildSaid(t *testing.T) {
	for _, tc := range []struct {
		name, script string
		want         State
	}{
		{"a build that writes its result succeeds with the digest",
			`cp "$2" /dev/null && echo '{"digest":"sha256:abc"}' > "$4"`,
			State{Phase: Succeeded, Message: "built", Digest: "sha256:abc"}},
		{"a build that fails is Failed with the end of its stderr",
			`echo "rootfs file:///x has digest sha256:1" >&2; exit 1`,
			State{Phase: Failed, Message: "build failed (exit status 1): rootfs file:///x has digest sha256:1"}},
		{"a build that exits 0 without a result is Failed",
			`exit 0`,
			State{Phase: Failed, Message: "the build exited 0 but wrote no result"}},
		{"a command that cannot start is Failed",
			"",
			State{Phase: Failed, Message: "start /nonexistent/flarecast"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDone()
			cmd := sh(tc.script)
			if tc.script == "" {
				cmd = []string{"/nonexistent/flarecast"}
			}
			l, err := NewLocal(LocalOptions{Dir: t.TempDir(), Command: cmd, OnDone: d.on})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if err := l.Submit(ctx, Spec{Namespace: "ns", Name: "job", Owner: owner("job"), Request: []byte(`{}`)}); err != nil {
				t.Fatal(err)
			}
			d.wait(t, "ns/job")
			got, err := l.State(ctx, "ns", "job")
			if err != nil {
				t.Fatal(err)
			}
			if got.Phase != tc.want.Phase || got.Digest != tc.want.Digest || !strings.HasPrefix(got.Message, tc.want.Message) {
				t.Fatalf("state %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestLocalRunsAJobOnceAndBoundsConcurrency(t *testing.T) {
	dir, marks := t.TempDir(), t.TempDir()
	release := filepath.Join(marks, "release")
	// Each build leaves a mark when it starts, then waits for the release file.
	script := `touch "` + marks + `/$(basename $(dirname "$2"))"; while [ ! -e "` + release + `" ]; do sleep 0.05; done; echo '{"digest":"sha256:1"}' > "$4"`
	d := newDone()
	l, err := NewLocal(LocalOptions{Dir: dir, Command: sh(script), Concurrency: 2, OnDone: d.on})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, n := range []string{"a", "b", "c", "a"} {
		if err := l.Submit(ctx, Spec{Namespace: "ns", Name: n, Owner: owner(n), Request: []byte(n)}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		running, pending := 0, 0
		for _, n := range []string{"a", "b", "c"} {
			s, _ := l.State(ctx, "ns", n)
			switch s.Phase {
			case Running:
				running++
			case Pending:
				pending++
			}
		}
		if running == 2 && pending == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d running, %d pending; want 2 and 1", running, pending)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for range 3 {
		select {
		case n := <-d.ch:
			seen[n] = true
		case <-time.After(20 * time.Second):
			t.Fatalf("only %v finished", seen)
		}
	}
	select {
	case n := <-d.ch:
		t.Fatalf("%s ran twice", n)
	case <-time.After(200 * time.Millisecond):
	}
	if len(seen) != 3 {
		t.Fatalf("finished %v", seen)
	}
}

func TestLocalStateSurvivesARestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	d := newDone()
	l, err := NewLocal(LocalOptions{Dir: dir, Command: sh(`echo '{"digest":"sha256:done"}' > "$4"`), OnDone: d.on})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Submit(ctx, Spec{Namespace: "ns", Name: "finished", Owner: owner("finished"), Request: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	d.wait(t, "ns/finished")
	// A job a crashed manager left Running: its state says so, its process is gone.
	orphan := filepath.Join(dir, "ns", "orphan")
	os.MkdirAll(orphan, 0o755)
	os.WriteFile(filepath.Join(orphan, requestFile), []byte(`{}`), 0o644)
	if err := writeState(orphan, diskState{Namespace: "ns", Name: "orphan", Owner: "orphan", Phase: Running, PID: 999999}); err != nil {
		t.Fatal(err)
	}

	d2 := newDone()
	l2, err := NewLocal(LocalOptions{Dir: dir, Command: sh(`echo '{"digest":"sha256:again"}' > "$4"`), OnDone: d2.on})
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := l2.State(ctx, "ns", "finished"); s.Phase != Succeeded || s.Digest != "sha256:done" {
		t.Fatalf("finished job after restart: %+v", s)
	}
	s, _ := l2.State(ctx, "ns", "orphan")
	if s.Phase != Failed || !s.Retryable || !strings.Contains(s.Message, "interrupted") || !strings.Contains(s.Message, "999999") {
		t.Fatalf("orphan after restart: %+v", s)
	}
	// Submitting the finished job again does nothing; the interrupted one runs again.
	if err := l2.Submit(ctx, Spec{Namespace: "ns", Name: "finished", Owner: owner("finished"), Request: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if err := l2.Submit(ctx, Spec{Namespace: "ns", Name: "orphan", Owner: owner("orphan"), Request: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	d2.wait(t, "ns/orphan")
	if s, _ := l2.State(ctx, "ns", "orphan"); s.Phase != Succeeded || s.Digest != "sha256:again" {
		t.Fatalf("retried orphan: %+v", s)
	}
	if s, _ := l2.State(ctx, "ns", "finished"); s.Digest != "sha256:done" {
		t.Fatalf("the finished job ran again: %+v", s)
	}
	if err := l2.Forget(ctx, "ns", "finished"); err != nil {
		t.Fatal(err)
	}
	if s, _ := l2.State(ctx, "ns", "finished"); s.Phase != Unknown {
		t.Fatalf("forgotten job: %+v", s)
	}
	if _, err := os.Stat(filepath.Join(dir, "ns", "finished")); !os.IsNotExist(err) {
		t.Fatalf("forgotten job's directory: %v", err)
	}
	// The owner of the retried job goes: its jobs go with it.
	if err := l2.ForgetOwner(ctx, "ns", "orphan"); err != nil {
		t.Fatal(err)
	}
	if s, _ := l2.State(ctx, "ns", "orphan"); s.Phase != Unknown {
		t.Fatalf("job of a forgotten owner: %+v", s)
	}
}
