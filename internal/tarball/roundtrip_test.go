package tarball

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func extractBytes(t testing.TB, data []byte, dir string, opts ExtractOptions) ExtractReport {
	t.Helper()
	rep, err := Extract(context.Background(), bytes.NewReader(data), dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// withoutSockets drops the sockets of a description: a tar cannot hold them.
func withoutSockets(lines []string) []string {
	return slices.DeleteFunc(slices.Clone(lines), func(l string) bool { return strings.Contains(l, "type=140000") })
}

func TestPackExtractPackGivesTheSameDigest(t *testing.T) {
	for _, c := range []Compression{Zstd, Plain} {
		src, dst := t.TempDir(), t.TempDir()
		makeTree(t, src, richTree(), time.Now())
		first, st := packBytes(t, DirSource(src), PackOptions{SourceDateEpoch: 1700000000, Compression: c})
		rep := extractBytes(t, first, dst, ExtractOptions{})
		if (rep.Compressed == "zstd") != (c == Zstd) || rep.DiffID != st.DiffID || rep.TarBytes != st.TarBytes {
			t.Fatalf("report %+v does not match pack stats %+v", rep, st)
		}
		if isRoot && len(rep.NotRestored) > 0 {
			t.Fatalf("as root everything should be restored: %v", rep.NotRestored)
		}
		if d := diffLines(withoutSockets(describe(t, src)), describe(t, dst)); d != "" {
			t.Fatalf("extracted tree differs:\n%s", d)
		}
		for p, mt := range mtimes(t, dst) {
			if mt != 1700000000*int64(time.Second) {
				t.Errorf("%s: mtime %d, want the epoch", p, mt)
			}
		}
		second, _ := packBytes(t, DirSource(dst), PackOptions{SourceDateEpoch: 1700000000, Compression: c})
		if !bytes.Equal(first, second) {
			t.Fatal("pack → extract → pack changed the bytes")
		}
	}
}

func TestExtractRecreatesHolesInRunsOfZeros(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	if err := writeSparse(filepath.Join(src, "f"), "tail"); err != nil {
		t.Fatal(err)
	}
	small := make([]byte, 8192) // under sparseMin: written as it is
	if err := os.WriteFile(filepath.Join(src, "small"), small, 0o644); err != nil {
		t.Fatal(err)
	}
	out, _ := packBytes(t, DirSource(src), PackOptions{})
	extractBytes(t, out, dst, ExtractOptions{})
	want, _ := os.ReadFile(filepath.Join(src, "f"))
	got, _ := os.ReadFile(filepath.Join(dst, "f"))
	if !bytes.Equal(got, want) {
		t.Fatal("content changed")
	}
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(dst, "f"), &st); err != nil {
		t.Fatal(err)
	}
	if used := st.Blocks * 512; used > 64<<10 {
		t.Fatalf("%d bytes allocated for a %d-byte file holding 4 bytes: holes not made", used, st.Size)
	}
	if err := unix.Stat(filepath.Join(dst, "small"), &st); err != nil || st.Blocks*512 < 8192 {
		t.Fatalf("small file of zeros should be written densely: %d blocks, %v", st.Blocks, err)
	}
}

func TestUnprivilegedExtractListsWhatItCouldNotRestore(t *testing.T) {
	// As root, Rootless asks for what an unprivileged user gets; as another user it is what
	// happens anyway. Either way nothing may be skipped silently.
	me := os.Geteuid()
	other := 4242
	data := buildTar(t, []tarEntry{
		{name: "dev/", typ: tar.TypeDir, mode: 0o755, uid: me},
		{name: "dev/null", typ: tar.TypeChar, mode: 0o666, major: 1, minor: 3, uid: me},
		{name: "dev/loop0", typ: tar.TypeBlock, mode: 0o660, major: 7, uid: me},
		{name: "etc/", typ: tar.TypeDir, mode: 0o750, uid: other},
		{name: "etc/shadow", body: "x", mode: 0o640, uid: other},
		{name: "bin/", typ: tar.TypeDir, mode: 0o755, uid: me},
		{name: "bin/ping", body: "ping", mode: 0o755, uid: me, xattrs: map[string]string{"security.capability": capNetRaw, "user.note": "kept"}},
		{name: "bin/mine", body: "ok", mode: 0o755, uid: me},
	})
	dst := t.TempDir()
	rep := extractBytes(t, data, dst, ExtractOptions{Rootless: true})
	got := make(map[string]bool)
	for _, n := range rep.NotRestored {
		got[n.Path+" "+n.What] = true
	}
	want := []string{"dev/null device node", "dev/loop0 device node", "etc owner", "etc/shadow owner"}
	if !isRoot {
		want = append(want, "bin/ping xattr security.capability")
	}
	for _, w := range want {
		if !got[w] {
			t.Errorf("report lacks %q: %v", w, rep.NotRestored)
		}
	}
	for p := range got {
		if strings.HasPrefix(p, "bin/mine") || strings.HasPrefix(p, "bin/ping owner") || p == "bin/ping xattr user.note" {
			t.Errorf("reported although restorable: %s", p)
		}
	}
	if _, err := os.Lstat(filepath.Join(dst, "dev/null")); !os.IsNotExist(err) {
		t.Errorf("device node created without privileges: %v", err)
	}
	if v, err := getXattr(filepath.Join(dst, "bin/ping"), "user.note"); err != nil || string(v) != "kept" {
		t.Errorf("user xattr: %q %v", v, err)
	}
	if !strings.Contains(rep.Summary(), "device node: 2") {
		t.Errorf("summary %q", rep.Summary())
	}
}

func TestExtractReplacesEntriesListedTwice(t *testing.T) {
	dst := t.TempDir()
	data := buildTar(t, []tarEntry{
		{name: "a", body: "first"},
		{name: "b", typ: '2', link: "a"},
		{name: "a", body: "second"},
		{name: "b", body: "now a file"},
		{name: "d/", typ: '5', mode: 0o700},
		{name: "d/", typ: '5', mode: 0o750},
	})
	extractBytes(t, data, dst, ExtractOptions{})
	if got, _ := os.ReadFile(filepath.Join(dst, "a")); string(got) != "second" {
		t.Errorf("a = %q", got)
	}
	if fi, err := os.Lstat(filepath.Join(dst, "b")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("b: %v %v", fi, err)
	}
	if fi, _ := os.Stat(filepath.Join(dst, "d")); fi.Mode().Perm() != 0o750 {
		t.Errorf("d mode %v", fi.Mode())
	}
}

// An empty directory below the root replaced by a file: the directory holding it stays open
// for the new entry (it used to be closed first, so the replacement failed with EBADF, or could
// act on whatever directory reused the descriptor number).
func TestExtractReplacesANestedEmptyDirectory(t *testing.T) {
	dst := t.TempDir()
	data := buildTar(t, []tarEntry{
		{name: "a/", typ: tar.TypeDir},
		{name: "a/b/", typ: tar.TypeDir},
		{name: "a/b", body: "file"},
		{name: "a/c", body: "c"},
	})
	extractBytes(t, data, dst, ExtractOptions{})
	for name, want := range map[string]string{"a/b": "file", "a/c": "c"} {
		if got, err := os.ReadFile(filepath.Join(dst, name)); err != nil || string(got) != want {
			t.Errorf("%s = %q, %v", name, got, err)
		}
	}
}

// A parent an archive does not list is made 0755 whatever the umask: the small sections of an
// archive rely on it (docs/archive-format.md), and the same archive must give the same tree.
func TestExtractMakesUnlistedParents0755WhateverTheUmask(t *testing.T) {
	old := unix.Umask(0o077)
	defer unix.Umask(old)
	dst := t.TempDir()
	extractBytes(t, buildTar(t, []tarEntry{{name: "var/lib/flarecast/f", body: "x"}}), dst, ExtractOptions{})
	for _, d := range []string{"var", "var/lib", "var/lib/flarecast"} {
		if fi, err := os.Stat(filepath.Join(dst, d)); err != nil || fi.Mode().Perm() != 0o755 {
			t.Errorf("%s: %v %v, want 0755", d, fi.Mode(), err)
		}
	}
}
