package cli

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Empty input makes no archive, as GNU tar refuses to create an empty one: an empty directory,
// a tar of nothing but its root, a zero-byte file or standard input each exit 1 with a message
// that says so, and leave no archive and no blob behind.
func TestCreateRefusesEmptyInput(t *testing.T) {
	s := newSite(t)
	empty := filepath.Join(s.dir, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	var rootOnly bytes.Buffer
	tw := tar.NewWriter(&rootOnly)
	tw.WriteHeader(&tar.Header{Name: "./", Mode: 0o755, Typeflag: tar.TypeDir})
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"root-only.tar": rootOnly.Bytes(), "zero.tar": nil, "blocks.tar": make([]byte, 1024)}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(s.dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name  string
		stdin []byte
		args  []string
	}{
		{"empty directory", nil, []string{"--from", empty}},
		{"tar of the root alone", nil, []string{"--from-tar", filepath.Join(s.dir, "root-only.tar")}},
		{"zero-byte tar", nil, []string{"--from-tar", filepath.Join(s.dir, "zero.tar")}},
		{"tar of two zero blocks", nil, []string{"--from-tar", filepath.Join(s.dir, "blocks.tar")}},
		{"empty standard input", []byte{}, []string{"--from-tar", "-"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo := filepath.Join(t.TempDir(), "repo")
			_, errs, code := run(t, tc.stdin, append([]string{"archive", "--repo", repo, "create", "base"}, tc.args...)...)
			if code != 1 || !strings.Contains(errs, "refusing to create an empty archive") {
				t.Fatalf("exit %d, stderr %q; want 1 and a refusal of the empty source", code, errs)
			}
			if out := mustRun(t, "archive", "--repo", repo, "ls", "-o", "json"); strings.TrimSpace(out) != "[]" {
				t.Fatalf("a refused create left archives: %s", out)
			}
			if blobs, _ := os.ReadDir(filepath.Join(repo, "blobs", "sha256")); len(blobs) != 0 {
				t.Fatalf("a refused create left %d files under blobs/sha256", len(blobs))
			}
		})
	}
	// One file is enough to be an archive.
	if err := os.WriteFile(filepath.Join(empty, "motd"), []byte("hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "archive", "--repo", s.repo, "create", "base", "--from", empty)
}
