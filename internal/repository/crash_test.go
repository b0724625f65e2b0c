package repository

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// A writer killed at any point must leave a store that opens, whose names all resolve and
// whose referenced blobs all verify. SIGKILL stops the process between two system calls, as a
// crash does; it does not model a power loss (the page cache survives), which the fsyncs in
// durable.go are for.
func TestCrashedWriterLeavesConsistentStore(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	tests := []struct {
		point string
		at    []int // which occurrence of the point kills the writer
	}{
		{"temp-written", []int{1, 2, 5, 17, 40}}, // blob or index.json written, not synced
		{"temp-synced", []int{1, 3, 8, 23}},      // synced, not renamed into place
		{"renamed", []int{1, 4, 11, 29}},         // renamed, directory not synced
		{"index-write", []int{1, 2, 6, 13}},      // about to replace index.json
		{"gc-sweeping", []int{1, 2, 3}},          // collection half way through its deletions
	}
	for _, tt := range tests {
		for _, at := range tt.at {
			t.Run(fmt.Sprintf("%s#%d", tt.point, at), func(t *testing.T) {
				root := t.TempDir()
				cmd := child(t, "crash", root, "c", 12, crashPointEnv+"="+tt.point, fmt.Sprintf("%s=%d", crashAtEnv, at))
				out, err := cmd.CombinedOutput()
				if !killed(err) {
					t.Fatalf("writer was not killed at %s #%d: %v\n%s", tt.point, at, err, out)
				}
				reopenAndCheck(t, root)
			})
		}
	}
}

// Kills at random moments, to reach points no hook names.
func TestWriterKilledAtRandomLeavesConsistentStore(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	killedRuns := 0
	for i := 0; i < 12; i++ {
		root := t.TempDir()
		cmd := child(t, "crash", root, "r", 400)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		delay := time.Duration(20+rng.IntN(200)) * time.Millisecond
		time.Sleep(delay)
		cmd.Process.Signal(syscall.SIGKILL)
		if killed(cmd.Wait()) {
			killedRuns++
		}
		reopenAndCheck(t, root)
	}
	if killedRuns == 0 {
		t.Fatal("no writer was killed mid-run; the workload is too short to test anything")
	}
	t.Logf("%d of 12 writers killed mid-run", killedRuns)
}

func killed(err error) bool {
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		return false
	}
	ws, ok := exit.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

func reopenAndCheck(t *testing.T, root string) {
	t.Helper()
	s, err := OpenLocal(root, Options{GCGrace: -1})
	if err != nil {
		t.Fatalf("store does not open after the crash: %v", err)
	}
	checkConsistent(t, s)
	// And it keeps working: collect (which removes what the dead writer left), then write again.
	if _, err := s.GC(t.Context(), false); err != nil {
		t.Fatalf("gc after the crash: %v", err)
	}
	checkConsistent(t, s)
	checkNoAbandonedTemps(t, s)
	a := makeArchive(t, "after", nil, "after the crash")
	a.push(t, s, "after")
	checkConsistent(t, s)
}
