package tarball

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
)

// shuffled returns nodes in another creation order that still creates parents first: deepest
// directories' siblings reversed, files reversed, and each group of hard links rooted at its
// last name instead of its first.
func shuffled(nodes []node) []node {
	var dirs, files, links []node
	for _, n := range slices.Backward(nodes) {
		switch n.kind {
		case 'd':
			dirs = append(dirs, n)
		case 'h':
			links = append(links, n)
		default:
			files = append(files, n)
		}
	}
	slices.SortStableFunc(dirs, func(a, b node) int { return strings.Count(a.path, "/") - strings.Count(b.path, "/") })
	// Re-root every hard-link group at its last link: that name is created as the file and
	// the others (including the original) link to it.
	newRoot := make(map[string]string)
	for _, l := range links {
		if _, ok := newRoot[l.target]; !ok {
			newRoot[l.target] = l.path
		}
	}
	var out []node
	out = append(out, dirs...)
	for _, f := range files {
		if r, ok := newRoot[f.path]; ok {
			moved := f
			moved.path = r
			out = append(out, moved)
			continue
		}
		out = append(out, f)
	}
	for _, l := range links {
		r := newRoot[l.target]
		if l.path == r {
			l.path = l.target
		}
		l.target = r
		out = append(out, l)
	}
	return out
}

func packBytes(t testing.TB, src Source, opts PackOptions) ([]byte, Stats) {
	t.Helper()
	var buf bytes.Buffer
	st, err := Pack(context.Background(), src, &buf, opts)
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), st
}

func TestPackIsReproducibleAcrossCopiesTimesAndCreationOrder(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	makeTree(t, a, richTree(), time.Now())
	makeTree(t, b, shuffled(richTree()), time.Date(2001, 2, 3, 4, 5, 6, 7, time.UTC))
	if d := diffLines(describe(t, a), describe(t, b)); d != "" {
		t.Fatalf("the two copies differ before packing:\n%s", d)
	}
	opts := PackOptions{SourceDateEpoch: 1700000000}
	outA, stA := packBytes(t, DirSource(a), opts)
	outB, stB := packBytes(t, DirSource(b), opts)
	if !bytes.Equal(outA, outB) {
		t.Fatalf("same tree, different bytes: %s vs %s", digest.FromBytes(outA), digest.FromBytes(outB))
	}
	if stA.DiffID != stB.DiffID || stA.DiffID == "" {
		t.Fatalf("diff ids %q and %q", stA.DiffID, stB.DiffID)
	}
	if stA.SkippedSockets != 1 || stA.SkippedSocketPaths[0] != "tmp/socket" {
		t.Fatalf("socket not reported as skipped: %+v", stA)
	}
	if stA.HardLinks != 3 {
		t.Fatalf("want 3 hard links, got %+v", stA)
	}
}

// readTar decompresses if needed and returns every header with its content.
func readTar(t testing.TB, data []byte) ([]*tar.Header, map[string][]byte) {
	t.Helper()
	var r io.Reader = bytes.NewReader(data)
	if bytes.HasPrefix(data, zstdMagic) {
		dec, err := zstd.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		defer dec.Close()
		r = dec
	}
	tr := tar.NewReader(r)
	var hdrs []*tar.Header
	content := make(map[string][]byte)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return hdrs, content
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		hdrs = append(hdrs, hdr)
		content[hdr.Name] = data
	}
}

func TestPackedHeadersAreNormalized(t *testing.T) {
	dir := t.TempDir()
	makeTree(t, dir, richTree(), time.Now())
	out, _ := packBytes(t, DirSource(dir), PackOptions{SourceDateEpoch: 1234567890})
	hdrs, _ := readTar(t, out)
	var names []string
	for _, h := range hdrs {
		names = append(names, h.Name)
		if h.Uname != "" || h.Gname != "" {
			t.Errorf("%s: user/group names kept: %q %q", h.Name, h.Uname, h.Gname)
		}
		if !h.AccessTime.IsZero() || !h.ChangeTime.IsZero() {
			t.Errorf("%s: atime/ctime written", h.Name)
		}
		if h.ModTime.Unix() != 1234567890 || h.ModTime.Nanosecond() != 0 {
			t.Errorf("%s: mtime %v, want the epoch", h.Name, h.ModTime)
		}
		if h.Typeflag != tar.TypeChar && h.Typeflag != tar.TypeBlock && (h.Devmajor != 0 || h.Devminor != 0) {
			t.Errorf("%s: device numbers on a non-device", h.Name)
		}
		if h.Format != tar.FormatPAX && h.Format != tar.FormatUSTAR {
			t.Errorf("%s: format %v", h.Name, h.Format)
		}
		for k := range h.PAXRecords {
			// path and linkpath carry names that do not fit a ustar header (long, non-ASCII).
			if !strings.HasPrefix(k, xattrPrefix) && k != "path" && k != "linkpath" {
				t.Errorf("%s: PAX record %s", h.Name, k)
			}
		}
	}
	if names[0] != RootName {
		t.Errorf("first entry %q, want the root", names[0])
	}
	if !slices.IsSortedFunc(names, ComparePaths) {
		t.Errorf("entries not in order: %q", names)
	}
	byName := make(map[string]*tar.Header)
	for _, h := range hdrs {
		byName[h.Name] = h
	}
	// Hard links point at the first of their names in entry order.
	for name, target := range map[string]string{"usr/a-link": "", "usr/lib/libc.so": "usr/a-link", "usr/lib/libc.so.6": "usr/a-link", "etc/hosts": "", "etc/hosts-link": "etc/hosts"} {
		h := byName[name]
		if target == "" {
			if h.Typeflag != tar.TypeReg {
				t.Errorf("%s: type %q, want the file", name, h.Typeflag)
			}
			continue
		}
		if h.Typeflag != tar.TypeLink || h.Linkname != target {
			t.Errorf("%s: type %q -> %q, want a hard link to %s", name, h.Typeflag, h.Linkname, target)
		}
	}
	if got := byName["bin/su"].Mode; got != 0o4755 {
		t.Errorf("setuid lost: %o", got)
	}
	if got := byName["tmp/"].Mode; got != 0o1777 {
		t.Errorf("sticky lost: %o", got)
	}
	if got := byName["etc/hosts"].PAXRecords; got["SCHILY.xattr.user.a"] != "1" || got["SCHILY.xattr.user.b"] != "2" {
		t.Errorf("xattrs: %q", got)
	}
	if isRoot {
		if got := byName["bin/ping"].PAXRecords["SCHILY.xattr.security.capability"]; got != capNetRaw {
			t.Errorf("capability: %x", got)
		}
		if h := byName["dev/null"]; h.Typeflag != tar.TypeChar || h.Devmajor != 1 || h.Devminor != 3 {
			t.Errorf("dev/null: %+v", h)
		}
		if h := byName["etc/hosts.d/z"]; h.Uid != 1000 || h.Gid != 1000 {
			t.Errorf("owner: %d:%d", h.Uid, h.Gid)
		}
	}
}

func TestPreserveTimesKeepsNanoseconds(t *testing.T) {
	dir := t.TempDir()
	makeTree(t, dir, []node{{path: "f", kind: 'f', mode: 0o644, data: "x"}}, time.Unix(1600000000, 123456789))
	out, _ := packBytes(t, DirSource(dir), PackOptions{SourceDateEpoch: 5, PreserveTimes: true})
	hdrs, _ := readTar(t, out)
	if got := hdrs[1].ModTime.UnixNano(); got != 1600000000123456789 {
		t.Fatalf("mtime %d", got)
	}
}

func TestSparseFilePacksLikeItsDenseCopy(t *testing.T) {
	sparse, dense := t.TempDir(), t.TempDir()
	if err := writeSparse(filepath.Join(sparse, "f"), "tail"); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(sparse, "f"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dense, "f"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{sparse, dense} {
		os.Chmod(d, 0o755)
		os.Chmod(filepath.Join(d, "f"), 0o644)
	}
	a, _ := packBytes(t, DirSource(sparse), PackOptions{})
	b, _ := packBytes(t, DirSource(dense), PackOptions{})
	if !bytes.Equal(a, b) {
		t.Fatal("a sparse file and its dense copy pack differently")
	}
}

func TestTarSourceGivesTheSameBytesAsTheDirectory(t *testing.T) {
	dir := t.TempDir()
	makeTree(t, dir, richTree(), time.Now())
	want, _ := packBytes(t, DirSource(dir), PackOptions{})
	plain, _ := packBytes(t, DirSource(dir), PackOptions{Compression: Plain})
	hdrs, content := readTar(t, plain)

	// Feed the entries back in reverse order, with each hard-link group rooted at its last
	// name, user names and junk records added: the output must not change.
	var src bytes.Buffer
	tw := tar.NewWriter(&src)
	slices.Reverse(hdrs)
	for _, h := range hdrs {
		h.Uname, h.Gname = "builder", "staff"
		h.Name = "./" + h.Name
		if h.PAXRecords == nil {
			h.PAXRecords = map[string]string{}
		}
		h.PAXRecords["comment"] = "host-specific"
		h.ModTime = time.Now()
		h.Format = tar.FormatUnknown
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write(content[strings.TrimPrefix(h.Name, "./")])
	}
	tw.Close()
	got, _ := packBytes(t, TarSource(&src), PackOptions{})
	if !bytes.Equal(got, want) {
		h1, _ := readTar(t, got)
		h2, _ := readTar(t, want)
		for i := range min(len(h1), len(h2)) {
			if h1[i].Name != h2[i].Name || h1[i].Typeflag != h2[i].Typeflag || h1[i].Linkname != h2[i].Linkname {
				t.Errorf("entry %d: %s %c %s vs %s %c %s", i, h1[i].Name, h1[i].Typeflag, h1[i].Linkname, h2[i].Name, h2[i].Typeflag, h2[i].Linkname)
			}
		}
		t.Fatal("repacking the tar gives other bytes than packing the directory")
	}
}

func TestWriteEntriesIgnoresInputOrder(t *testing.T) {
	entries := []Entry{
		{Path: "etc/flarecast/stage.sh", Mode: 0o755, Content: []byte("#!/bin/sh\necho hi\n")},
		{Path: "etc/", Mode: os.ModeDir | 0o755},
		{Path: "/etc/flarecast", Mode: os.ModeDir | 0o700, Uid: 10, Gid: 10},
		{Path: "etc/flarecast/current", Mode: os.ModeSymlink | 0o777, Target: "stage.sh"},
		{Path: "etc/hostname", Mode: 0o644, Content: []byte("node1\n"), Xattrs: map[string]string{"user.x": "y", "security.selinux": "dropped"}},
	}
	var a, b bytes.Buffer
	stA, err := WriteEntries(&a, entries, PackOptions{SourceDateEpoch: 42, Compression: Plain})
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(entries)
	if _, err := WriteEntries(&b, entries, PackOptions{SourceDateEpoch: 42, Compression: Plain}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("entry order changed the bytes")
	}
	hdrs, content := readTar(t, a.Bytes())
	var got []string
	for _, h := range hdrs {
		got = append(got, h.Name)
	}
	want := []string{"etc/", "etc/flarecast/", "etc/flarecast/current", "etc/flarecast/stage.sh", "etc/hostname"}
	if !slices.Equal(got, want) {
		t.Fatalf("order %q, want %q", got, want)
	}
	if string(content["etc/flarecast/stage.sh"]) != "#!/bin/sh\necho hi\n" || hdrs[3].Mode != 0o755 {
		t.Fatalf("script: %q mode %o", content["etc/flarecast/stage.sh"], hdrs[3].Mode)
	}
	if hdrs[1].Uid != 10 || hdrs[1].Mode != 0o700 || hdrs[2].Linkname != "stage.sh" {
		t.Fatalf("headers: %+v %+v", hdrs[1], hdrs[2])
	}
	if r := hdrs[4].PAXRecords; len(r) != 1 || r["SCHILY.xattr.user.x"] != "y" {
		t.Fatalf("xattrs %q", r)
	}
	if stA.Files != 2 || stA.Dirs != 2 || stA.Symlinks != 1 || stA.TarBytes != int64(a.Len()) || stA.DiffID != digest.FromBytes(a.Bytes()).String() || stA.OutputBytes != int64(a.Len()) {
		t.Fatalf("stats %+v", stA)
	}
}

func TestWriteEntriesRefusesDuplicatesAndTraversal(t *testing.T) {
	for _, tc := range []struct {
		name    string
		entries []Entry
		want    string
	}{
		{"duplicate", []Entry{{Path: "a", Mode: 0o644}, {Path: "./a", Mode: 0o600}}, "listed twice"},
		{"traversal", []Entry{{Path: "../a", Mode: 0o644}}, `".."`},
		{"content on a directory", []Entry{{Path: "d", Mode: os.ModeDir, Content: []byte("x")}}, "only regular files"},
		{"device", []Entry{{Path: "d", Mode: os.ModeDevice}}, "unsupported type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := WriteEntries(io.Discard, tc.entries, PackOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}

func TestZstdOutputIsIndependentFramesOfTheTar(t *testing.T) {
	// Bigger than one frame, and incompressible enough to stay that way.
	dir := t.TempDir()
	data := make([]byte, frameSize*2+12345)
	for i := range data {
		data[i] = byte(i*7919>>3) ^ byte(i>>11)
	}
	if err := os.WriteFile(filepath.Join(dir, "big"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, st := packBytes(t, DirSource(dir), PackOptions{})
	plain, pst := packBytes(t, DirSource(dir), PackOptions{Compression: Plain})
	if st.DiffID != pst.DiffID || st.TarBytes != int64(len(plain)) || st.OutputBytes != int64(len(out)) {
		t.Fatalf("stats disagree: %+v vs %+v", st, pst)
	}
	if frames := bytes.Count(out, zstdMagic); frames < 3 {
		t.Fatalf("%d frame magics, want at least 3", frames)
	}
	_, content := readTar(t, out)
	if !bytes.Equal(content["big"], data) {
		t.Fatal("content differs after decompression")
	}
}

func TestPackReportsProgress(t *testing.T) {
	dir := t.TempDir()
	makeTree(t, dir, richTree(), time.Now())
	var read int64
	_, st := packBytes(t, DirSource(dir), PackOptions{Progress: func(n int64) { read += n }})
	if read != st.ContentBytes || read < sparseSize {
		t.Fatalf("progress %d, content %d", read, st.ContentBytes)
	}
}

func TestPackStopsWhenTheContextIsCancelled(t *testing.T) {
	dir := t.TempDir()
	makeTree(t, dir, richTree(), time.Now())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Pack(ctx, DirSource(dir), io.Discard, PackOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v", err)
	}
}

func TestPackFollowsASymlinkToTheTreeButNothingBelow(t *testing.T) {
	dir := t.TempDir()
	makeTree(t, dir, richTree(), time.Now())
	alias := filepath.Join(t.TempDir(), "alias")
	if err := os.Symlink(dir, alias); err != nil {
		t.Fatal(err)
	}
	want, _ := packBytes(t, DirSource(dir), PackOptions{})
	got, _ := packBytes(t, DirSource(alias), PackOptions{})
	if !bytes.Equal(got, want) {
		t.Fatal("packing through a symlink to the tree gave other bytes")
	}
}

func TestTarSourceAndExtractReadCompressedTars(t *testing.T) {
	dir := t.TempDir()
	makeTree(t, dir, richTree(), time.Now())
	want, _ := packBytes(t, DirSource(dir), PackOptions{})
	plain, _ := packBytes(t, DirSource(dir), PackOptions{Compression: Plain})
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(plain)
	zw.Close()
	for name, input := range map[string][]byte{"plain": plain, "zstd": want, "gzip": gz.Bytes()} {
		t.Run(name, func(t *testing.T) {
			got, _ := packBytes(t, TarSource(bytes.NewReader(input)), PackOptions{})
			if !bytes.Equal(got, want) {
				t.Fatal("repacking gives other bytes")
			}
			rep := extractBytes(t, input, t.TempDir(), ExtractOptions{})
			wantKind := name
			if name == "plain" {
				wantKind = ""
			}
			if rep.Compressed != wantKind {
				t.Fatalf("detected %q, want %q", rep.Compressed, wantKind)
			}
		})
	}
}
