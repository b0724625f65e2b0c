package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// archive gc --executor-state-dir reports what a crashed manager's builds left (a request,
// a download in the work directory), removes it only without --dry-run, and leaves the job's
// state.
func TestGCReportsThenRemovesBuildLeftovers(t *testing.T) {
	repo, state := emptyRepository(t), t.TempDir()
	job := filepath.Join(state, "ns", "a-build-1")
	os.MkdirAll(filepath.Join(job, "work", "build-1"), 0o755)
	os.WriteFile(filepath.Join(job, "work", "build-1", "rootfs-1.download"), make([]byte, 2048), 0o644)
	os.WriteFile(filepath.Join(job, "request.json"), []byte(`{}`), 0o600)
	os.WriteFile(filepath.Join(job, "state.json"), []byte(`{"namespace":"ns","name":"a-build-1","phase":"Running","pid":1073741824}`), 0o600)

	out := mustRun(t, "archive", "--repo", repo, "gc", "--dry-run", "--executor-state-dir", state)
	if !strings.Contains(out, "would remove "+filepath.Join(job, "work")+" (2.0 KiB)") || !strings.Contains(out, "would remove 2 build leftovers") {
		t.Fatalf("dry run: %s", out)
	}
	if _, err := os.Stat(filepath.Join(job, "request.json")); err != nil {
		t.Fatalf("the dry run removed: %v", err)
	}
	out = mustRun(t, "archive", "--repo", repo, "gc", "--executor-state-dir", state)
	if !strings.Contains(out, "removed 2 build leftovers") {
		t.Fatalf("gc: %s", out)
	}
	entries, _ := os.ReadDir(job)
	if len(entries) != 1 || entries[0].Name() != "state.json" {
		t.Fatalf("left in the job's directory: %v", entries)
	}
}
