package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/flarecast/flarecast/internal/testsupport/fstree"
)

// Every command that only reads the repository leaves it exactly as it was, whatever the
// repository holds: the temp files of writers that died (reported, and removed only by gc),
// a blob no name reaches, no lock file (a layout another tool wrote).
func TestReadOnlyCommandsLeaveTheRepositoryUntouched(t *testing.T) {
	s := newSite(t)
	s.build(t)
	old := time.Now().Add(-3 * time.Hour)
	var stale []string
	for _, dir := range []string{s.repo, filepath.Join(s.repo, "blobs", "sha256")} {
		p := filepath.Join(dir, ".tmp-died")
		if err := os.WriteFile(p, []byte("half written"), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(p, old, old)
		stale = append(stale, p)
	}
	orphan := []byte("a blob no name reaches")
	orphanPath := filepath.Join(s.repo, "blobs", "sha256", digest.FromBytes(orphan).Encoded())
	if err := os.WriteFile(orphanPath, orphan, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(orphanPath, old, old)

	out := t.TempDir()
	commands := [][]string{
		{"ls"}, {"ls", "-o", "json"},
		{"info", "web-prod"}, {"info", "base", "-o", "json"},
		{"verify", "--all"}, {"verify", "web-conf", "-o", "json"},
		{"extract", "base", filepath.Join(out, "root")},
		{"export", "web-prod", "base", "--file", filepath.Join(out, "prod.flar")},
		{"push", "web-prod", filepath.Join(out, "pushed")},
		{"gc", "--dry-run"}, {"gc", "--dry-run", "--grace", "0", "-o", "json"},
	}
	for _, withLock := range []bool{true, false} {
		if !withLock {
			if err := os.Remove(filepath.Join(s.repo, ".lock")); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range commands {
			before := fstree.State(t, s.repo)
			mustRun(t, append([]string{"archive", "--repo", s.repo}, c...)...)
			if after := fstree.State(t, s.repo); after != before {
				t.Fatalf("archive %s changed the repository (lock file %v):\nbefore\n%s\nafter\n%s", strings.Join(c, " "), withLock, before, after)
			}
		}
		// pull reads its source the same way.
		before := fstree.State(t, s.repo)
		mustRun(t, "archive", "--repo", filepath.Join(out, fmt.Sprint("pulled-", withLock)), "pull", s.repo, "web-prod")
		if after := fstree.State(t, s.repo); after != before {
			t.Fatalf("pull changed its source repository:\nbefore\n%s\nafter\n%s", before, after)
		}
	}

	// The stale temp files are reported by the readers, and removed by gc alone.
	_, errs, code := run(t, nil, "archive", "--repo", s.repo, "ls")
	if code != 0 || !strings.Contains(errs, "2 temp files of writers that died") || !strings.Contains(errs, "archive gc") {
		t.Fatalf("ls: exit %d, stderr %q; want a note on the 2 stale temp files and gc", code, errs)
	}
	if got := mustRun(t, "archive", "--repo", s.repo, "gc", "--dry-run"); !strings.Contains(got, "would remove 1 blobs (22 B) and 2 temp files") {
		t.Fatalf("gc --dry-run printed %q, want the orphan blob and the 2 temp files", got)
	}
	if got := mustRun(t, "archive", "--repo", s.repo, "gc"); !strings.Contains(got, "removed 1 blobs (22 B) and 2 temp files") {
		t.Fatalf("gc printed %q", got)
	}
	for _, p := range append(stale, orphanPath) {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("gc left %s (%v)", p, err)
		}
	}
	mustRun(t, "archive", "--repo", s.repo, "verify", "--all")
}
