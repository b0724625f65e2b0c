package executor

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// files lists the names in dir.
func files(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// A build's request (it may hold Secret content), progress and work directory (downloads,
// spool) go when it ends, failed or not; its state, log and result stay for the controller.
// A failure the build recorded gives the state its reason.
func TestAnEndedBuildLeavesOnlyItsStateLogAndResult(t *testing.T) {
	for name, script := range map[string]string{
		"succeeded": `mkdir -p "$8" && echo x > "$8/spool" && echo '{"stage":"pack","bytes":1}' > "$6" && echo '{"digest":"sha256:abc"}' > "$4"`,
		"failed": `mkdir -p "$8" && echo x > "$8/spool" && echo '{"stage":"download","bytes":5}' > "$6" &&
			echo '{"failure":{"reason":"IdleTimeout","message":"rootfs http://x: the server sent nothing for 1m0s, after 5 B of the body"}}' > "$4"; exit 1`,
	} {
		t.Run(name, func(t *testing.T) {
			d := newDone()
			dir := t.TempDir()
			l, err := NewLocal(LocalOptions{Dir: dir, Command: sh(script), OnDone: d.on})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if err := l.Submit(ctx, Spec{Namespace: "ns", Name: "job", Owner: owner("job"), Request: []byte(`{"secret":"x"}`)}); err != nil {
				t.Fatal(err)
			}
			d.wait(t, "ns/job")
			if got := files(t, filepath.Join(dir, "ns", "job")); !slices.Equal(got, []string{logFile, resultFile, stateFile}) {
				t.Fatalf("the job's directory holds %v", got)
			}
			st, _ := l.State(ctx, "ns", "job")
			if name == "failed" && (st.Phase != Failed || st.Reason != "IdleTimeout" || st.Message != "rootfs http://x: the server sent nothing for 1m0s, after 5 B of the body") {
				t.Fatalf("state %+v", st)
			}
		})
	}
}

func TestARunningBuildReportsItsProgress(t *testing.T) {
	d := newDone()
	dir := t.TempDir()
	script := `echo '{"stage":"download","bytes":42,"total":100}' > "$6"; while [ ! -f "$2.go" ]; do sleep 0.05; done; echo '{"digest":"sha256:x"}' > "$4"`
	l, err := NewLocal(LocalOptions{Dir: dir, Command: sh(script), OnDone: d.on})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := l.Submit(ctx, Spec{Namespace: "ns", Name: "job", Owner: owner("job"), Request: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		st, _ := l.State(ctx, "ns", "job")
		if p := st.Progress; st.Phase == Running && p != nil {
			if *p != (Progress{Stage: "download", Bytes: 42, Total: 100}) {
				t.Fatalf("progress %+v", *p)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no progress while running: %+v", st)
		}
	}
	os.WriteFile(filepath.Join(dir, "ns", "job", requestFile+".go"), nil, 0o644)
	d.wait(t, "ns/job")
	if st, _ := l.State(ctx, "ns", "job"); st.Phase != Succeeded || st.Progress != nil {
		t.Fatalf("after the end: %+v", st)
	}
}

// Builds die with their manager, so at a restart none runs: what the interrupted ones left
// is removed before anything starts; a job still to run keeps its request.
func TestARestartSweepsWhatInterruptedBuildsLeft(t *testing.T) {
	dir := t.TempDir()
	for name, phase := range map[string]Phase{"running": Running, "failed": Failed} {
		job := filepath.Join(dir, "ns", name)
		os.MkdirAll(filepath.Join(job, workDir, "build-1"), 0o755)
		os.WriteFile(filepath.Join(job, workDir, "build-1", "rootfs-1.download"), []byte("partial"), 0o644)
		os.WriteFile(filepath.Join(job, requestFile), []byte(`{"secret":"x"}`), 0o600)
		os.WriteFile(filepath.Join(job, progressFile), []byte(`{"stage":"download","bytes":7}`), 0o644)
		if err := writeState(job, diskState{Namespace: "ns", Name: name, Owner: name, Phase: phase, PID: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := NewLocal(LocalOptions{Dir: dir, Command: sh(`exit 1`)}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"running", "failed"} {
		if got := files(t, filepath.Join(dir, "ns", name)); !slices.Equal(got, []string{stateFile}) {
			t.Fatalf("%s: the job's directory holds %v after the restart", name, got)
		}
	}
}

// What builds left in a state directory whose manager is gone is listed, then removed; a job a
// live process runs is left alone.
func TestLeftoversAreListedThenRemoved(t *testing.T) {
	dir := t.TempDir()
	for name, st := range map[string]diskState{
		"crashed": {Phase: Running, PID: 1 << 30}, // no such process
		"live":    {Phase: Running, PID: os.Getpid()},
	} {
		job := filepath.Join(dir, "ns", name)
		os.MkdirAll(filepath.Join(job, workDir), 0o755)
		os.WriteFile(filepath.Join(job, workDir, "spool"), []byte("12345"), 0o644)
		os.WriteFile(filepath.Join(job, requestFile), []byte(`{}`), 0o600)
		st.Namespace, st.Name = "ns", name
		if err := writeState(job, st); err != nil {
			t.Fatal(err)
		}
	}
	crashed := filepath.Join(dir, "ns", "crashed")
	want := []Leftover{{Path: filepath.Join(crashed, requestFile), Bytes: 2}, {Path: filepath.Join(crashed, workDir), Bytes: 5}}
	for _, dry := range []bool{true, false} {
		got, err := Leftovers(dir, dry)
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("dry run %v: %v %v, want %v", dry, got, err, want)
		}
	}
	if got, _ := Leftovers(dir, true); len(got) != 0 {
		t.Fatalf("after removal: %v", got)
	}
	if got := files(t, filepath.Join(dir, "ns", "live")); !slices.Equal(got, []string{requestFile, stateFile, workDir}) {
		t.Fatalf("a live job's directory holds %v", got)
	}
}

// A build that does not stop at its own timeout is stopped at the job's deadline.
func TestABuildPastItsDeadlineIsStopped(t *testing.T) {
	d := newDone()
	l, err := NewLocal(LocalOptions{Dir: t.TempDir(), Command: sh(`exec sleep 60`), OnDone: d.on})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := l.Submit(ctx, Spec{Namespace: "ns", Name: "job", Owner: owner("job"), Request: []byte(`{}`), Deadline: 300 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	d.wait(t, "ns/job")
	if st, _ := l.State(ctx, "ns", "job"); st.Phase != Failed || st.Reason != "BuildTimeout" || st.Message != "the build ran past its deadline of 300ms and was stopped" {
		t.Fatalf("state %+v", st)
	}
}
