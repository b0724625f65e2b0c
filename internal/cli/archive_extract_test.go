package cli

import (
	"os"
	"path/filepath"
	"strings"
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

// Extract refuses a DIR that is the host's root or that a symlink leads elsewhere, before it
// writes a byte, and says --force is how to mean it. The root cases extract a generic archive
// with --deployable, so that even a command that failed to refuse / would stop before writing.
func TestExtractRefusesRootAndSymlinkedDirs(t *testing.T) {
	s := newSite(t)
	mustRun(t, "archive", "--repo", s.repo, "create", "base", "--from", s.rootfs)
	links := t.TempDir()
	toRoot := filepath.Join(links, "to-root")
	target := filepath.Join(t.TempDir(), "elsewhere")
	toTarget := filepath.Join(links, "to-elsewhere")
	for _, err := range []error{os.Symlink("/", toRoot), os.Mkdir(target, 0o755), os.Symlink(target, toTarget)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		dir, want string
		extra     []string
	}{
		{"/", "is the host's root directory", []string{"--deployable"}},
		{"/usr/..", "is the host's root directory", []string{"--deployable"}},
		{toRoot, "is a symlink to the host's root directory", []string{"--deployable"}},
		{toRoot + "/", "is a symlink to the host's root directory", []string{"--deployable"}},
		{toTarget, "leads through a symlink to " + target, nil},
		{filepath.Join(toTarget, "sub"), "leads through a symlink to " + filepath.Join(target, "sub"), nil},
	} {
		args := append([]string{"archive", "--repo", s.repo, "extract", "base", tc.dir}, tc.extra...)
		_, errs, code := run(t, nil, args...)
		if code != 1 || !strings.Contains(errs, tc.want) || !strings.Contains(errs, "--force") {
			t.Errorf("extract into %s: exit %d, stderr %q; want 1 and %q with a word on --force", tc.dir, code, errs, tc.want)
		}
	}
	if ents, err := os.ReadDir(target); err != nil || len(ents) != 0 {
		t.Fatalf("a refused extraction wrote %d entries where the symlink points (%v)", len(ents), err)
	}
	// --force says the user means it: the archive lands where the link points.
	mustRun(t, "archive", "--repo", s.repo, "extract", "base", toTarget, "--force")
	if _, err := os.Stat(filepath.Join(target, "etc/os-release")); err != nil {
		t.Fatalf("extract --force through the symlink: %v", err)
	}
}

// The help of --force says what it lets through.
func TestExtractForceHelpSaysWhatItAllows(t *testing.T) {
	out := mustRun(t, "archive", "extract", "--help")
	for _, want := range []string{"--force", "DIR is / or a symlink", "overwrites the files of the host's root"} {
		if !strings.Contains(out, want) {
			t.Errorf("extract --help does not say %q:\n%s", want, out)
		}
	}
}
