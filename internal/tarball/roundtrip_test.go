package tarball

import (
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
		if rep.Compressed != (c == Zstd) || rep.DiffID != st.DiffID || rep.TarBytes != st.TarBytes {
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

func TestRootlessExtractListsWhatItCouldNotRestore(t *testing.T) {
	if !isRoot {
		t.Skip("needs root to build a tree with devices and foreign owners")
	}
	src, dst := t.TempDir(), t.TempDir()
	makeTree(t, src, richTree(), time.Now())
	out, _ := packBytes(t, DirSource(src), PackOptions{})
	rep := extractBytes(t, out, dst, ExtractOptions{Rootless: true})
	got := make(map[string]bool)
	for _, n := range rep.NotRestored {
		got[n.Path+" "+n.What] = true
	}
	for _, want := range []string{"dev/null device node", "dev/loop0 device node", "etc/hosts.d/z owner", "etc/hosts.d owner", "bin/wall owner"} {
		if !got[want] {
			t.Errorf("report lacks %q: %v", want, rep.NotRestored)
		}
	}
	if _, err := os.Lstat(filepath.Join(dst, "dev/null")); !os.IsNotExist(err) {
		t.Errorf("device node created in rootless mode: %v", err)
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
