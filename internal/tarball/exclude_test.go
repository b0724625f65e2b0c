package tarball

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// entriesOf lists a plain tar's entries as "name" or "name -> link" for hard links.
func entriesOf(t *testing.T, b []byte) []string {
	t.Helper()
	var out []string
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeLink {
			out = append(out, h.Name+" -> "+h.Linkname)
			continue
		}
		out = append(out, h.Name)
	}
}

// An excluded entry goes with its subtree, the directory a pattern empties stays, and a hard
// link whose first name is excluded becomes the file at its next name.
func TestPackDirExcludeLeavesOutSubtreesAndKeepsHardLinksWhole(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"proc/1", "etc/ssh", "usr/bin"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for p, data := range map[string]string{"proc/1/status": "x", "etc/ssh/ssh_host_ed25519_key": "secret", "etc/ssh/sshd_config": "Port 22\n", "a-first": "linked"} {
		if err := os.WriteFile(filepath.Join(dir, p), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Link(filepath.Join(dir, "a-first"), filepath.Join(dir, "usr/bin/second")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(dir, "a-first"), filepath.Join(dir, "usr/bin/third")); err != nil {
		t.Fatal(err)
	}
	exclude := func(name string) bool {
		return name == "a-first" || strings.HasPrefix(name, "proc/") || strings.HasPrefix(name, "etc/ssh/ssh_host_")
	}
	var b bytes.Buffer
	st, err := Pack(context.Background(), DirSource(dir), &b, PackOptions{Compression: Plain, Exclude: exclude})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"./", "etc/", "etc/ssh/", "etc/ssh/sshd_config", "proc/", "usr/", "usr/bin/", "usr/bin/second", "usr/bin/third -> usr/bin/second"}
	if got := entriesOf(t, b.Bytes()); !slices.Equal(got, want) {
		t.Fatalf("entries\n got %q\nwant %q", got, want)
	}
	if st.HardLinks != 1 || st.Files != 2 {
		t.Fatalf("stats %s: want 2 files and 1 hard link", st)
	}
}

// OneFileSystem packs a mounted directory as its empty mount point and names it.
func TestPackDirOneFileSystemStopsAtMountPoints(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	mnt := filepath.Join(dir, "data")
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(mnt, unix.MNT_DETACH) })
	if err := os.WriteFile(filepath.Join(mnt, "on-another-fs"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "kept"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, one := range []bool{false, true} {
		var b bytes.Buffer
		st, err := Pack(context.Background(), DirSource(dir), &b, PackOptions{Compression: Plain, OneFileSystem: one})
		if err != nil {
			t.Fatal(err)
		}
		got := entriesOf(t, b.Bytes())
		if crossed := slices.Contains(got, "data/on-another-fs"); crossed == one {
			t.Fatalf("OneFileSystem %v: entries %q", one, got)
		}
		if !slices.Contains(got, "data/") || !slices.Contains(got, "kept") {
			t.Fatalf("OneFileSystem %v: the mount point or the root's file is missing: %q", one, got)
		}
		if one && !slices.Equal(st.MountPoints, []string{"data"}) {
			t.Fatalf("mount points %q, want [data]", st.MountPoints)
		}
	}
}
