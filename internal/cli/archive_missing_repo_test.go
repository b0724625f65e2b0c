package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A command that only reads a repository, given a directory that is not there (a mistyped
// --repo, or the default ./flarecast-repo in the wrong directory), says so and creates
// nothing; it used to make an empty repository there and report it empty.
func TestReadingAMissingRepositoryCreatesNothing(t *testing.T) {
	dir := t.TempDir()
	rootfs := t.TempDir()
	if err := os.WriteFile(filepath.Join(rootfs, "motd"), []byte("hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other")
	mustRun(t, "archive", "--repo", other, "create", "base", "--from", rootfs) // for push and pull
	missing := filepath.Join(dir, "typo")
	for _, args := range [][]string{
		{"--repo", missing, "ls"},
		{"--repo", missing, "info", "base"},
		{"--repo", missing, "verify", "--all"},
		{"--repo", missing, "extract", "base", filepath.Join(dir, "root")},
		{"--repo", missing, "export", "base", "--file", filepath.Join(dir, "x.flar")},
		{"--repo", missing, "derive", "x", "--from", "base", "--type", "configured"},
		{"--repo", missing, "gc"},
		{"--repo", missing, "push", "base", other},
		{"--repo", other, "pull", missing, "base"},
	} {
		_, errs, code := run(t, nil, append([]string{"archive"}, args...)...)
		if code != 1 || !strings.Contains(errs, "does not exist") {
			t.Errorf("%v: exit %d, stderr %q; want 1 and that the repository does not exist", args, code, errs)
		}
		if _, err := os.Stat(missing); !os.IsNotExist(err) {
			t.Fatalf("%v created %s", args, missing)
		}
	}
	// Writers make it.
	mustRun(t, "archive", "--repo", missing, "create", "base", "--from", rootfs)
}
