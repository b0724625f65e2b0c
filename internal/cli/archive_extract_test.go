package cli

import (
	"os"
	"path/filepath"
	"testing"
)

// An extraction refused before writing anything (no such archive, not deployable, no
// repository) leaves no empty directory behind, which would look like a node root to fill.
func TestRefusedExtractLeavesNoDirectory(t *testing.T) {
	s := newSite(t)
	mustRun(t, "archive", "--repo", s.repo, "create", "base", "--from", s.rootfs)
	for _, args := range [][]string{
		{"--repo", s.repo, "extract", "nope"},
		{"--repo", s.repo, "extract", "base", "--deployable"},
		{"--repo", "ftp://nowhere/repo", "extract", "base"},
	} {
		dir := filepath.Join(t.TempDir(), "root")
		_, errs, code := run(t, nil, append(append([]string{"archive"}, args...), dir)...)
		if code != 1 {
			t.Fatalf("%v: exit %d (%s), want 1", args, code, errs)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("%v: a refused extraction left %s (%v)", args, dir, err)
		}
	}
	// Into a directory that exists, the directory stays.
	dir := t.TempDir()
	run(t, nil, "archive", "--repo", s.repo, "extract", "nope", dir)
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("an existing directory went: %v", err)
	}
}
