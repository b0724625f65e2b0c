package tarball

import (
	"fmt"

	"archive/tar"
	"bytes"
	"context"
	"github.com/klauspost/compress/zstd"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// tarEntry is a hand-made entry for hostile archives.
type tarEntry struct {
	name, link, body string
	typ              byte
	mode             int64
	uid              int
	major, minor     int64
	xattrs           map[string]string
}

func buildTar(t testing.TB, entries []tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		mode := e.mode
		if mode == 0 {
			mode = 0o644
		}
		size := int64(len(e.body))
		if typ != tar.TypeReg {
			size = 0
		}
		hdr := &tar.Header{Typeflag: typ, Name: e.name, Linkname: e.link, Mode: mode, Size: size, ModTime: time.Unix(1, 0), Format: tar.FormatPAX,
			Uid: e.uid, Gid: e.uid, Devmajor: e.major, Devminor: e.minor}
		for k, v := range e.xattrs {
			if hdr.PAXRecords == nil {
				hdr.PAXRecords = make(map[string]string)
			}
			hdr.PAXRecords[xattrPrefix+k] = v
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(e.body))
	}
	tw.Close()
	return buf.Bytes()
}

// sandbox is a directory holding the extraction target and, beside it, files an attacker
// would like to reach.
type sandbox struct {
	root, target, outside string
}

func newSandbox(t testing.TB) sandbox {
	root := t.TempDir()
	s := sandbox{root: root, target: filepath.Join(root, "target"), outside: filepath.Join(root, "outside")}
	for _, d := range []string{s.target, s.outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(s.outside, "secret"), []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { makeRemovable(root) })
	return s
}

// outsideState describes everything in the sandbox except the target's contents.
func (s sandbox) outsideState(t testing.TB) []string {
	var out []string
	filepath.WalkDir(s.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if p == s.target {
			fi, _ := os.Lstat(p)
			out = append(out, "target "+fi.Mode().Type().String())
			return filepath.SkipDir
		}
		fi, _ := os.Lstat(p)
		data, _ := os.ReadFile(p)
		out = append(out, strings.TrimPrefix(p, s.root)+" "+fi.Mode().String()+" "+string(data))
		return nil
	})
	return out
}

// makeRemovable gives every directory owner rwx so cleanup can delete what an archive locked.
func makeRemovable(root string) {
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o700)
		}
		return nil
	})
}

func TestExtractRefusesHostileArchives(t *testing.T) {
	for _, tc := range []struct {
		name    string
		entries []tarEntry
		raw     func([]byte) []byte // alters the built tar
		entry   string              // the entry the error must name
		want    string
	}{
		{name: "parent traversal", entries: []tarEntry{{name: "../outside/pwned", body: "x"}}, entry: "../outside/pwned", want: "traversal"},
		{name: "traversal inside a path", entries: []tarEntry{{name: "a/../../outside/pwned", body: "x"}}, entry: "a/../../outside/pwned", want: "traversal"},
		{name: "absolute path", entries: []tarEntry{{name: "/etc/pwned", body: "x"}}, entry: "/etc/pwned", want: "absolute"},
		{name: "write through a symlink to outside", entries: []tarEntry{
			{name: "evil", typ: tar.TypeSymlink, link: "../outside"},
			{name: "evil/pwned", body: "x"}}, entry: "evil/pwned", want: "symlink"},
		{name: "write through an absolute symlink", entries: []tarEntry{
			{name: "evil", typ: tar.TypeSymlink, link: "/"},
			{name: "evil/tmp/pwned", body: "x"}}, entry: "evil/tmp/pwned", want: "symlink"},
		{name: "directory through a symlink", entries: []tarEntry{
			{name: "d", typ: tar.TypeSymlink, link: "../outside"},
			{name: "d/sub/", typ: tar.TypeDir}}, entry: "d/sub/", want: "symlink"},
		{name: "symlink inside the tree is not followed either", entries: []tarEntry{
			{name: "real/", typ: tar.TypeDir},
			{name: "alias", typ: tar.TypeSymlink, link: "real"},
			{name: "alias/f", body: "x"}}, entry: "alias/f", want: "symlink"},
		{name: "hard link to outside", entries: []tarEntry{{name: "l", typ: tar.TypeLink, link: "../outside/secret"}}, entry: "l", want: "outside the tree"},
		{name: "hard link to an absolute path", entries: []tarEntry{{name: "l", typ: tar.TypeLink, link: "/etc/passwd"}}, entry: "l", want: "absolute"},
		{name: "hard link through a symlink", entries: []tarEntry{
			{name: "s", typ: tar.TypeSymlink, link: "../outside"},
			{name: "l", typ: tar.TypeLink, link: "s/secret"}}, entry: "l", want: "symlink"},
		{name: "write through a hard link to an escaping symlink", entries: []tarEntry{
			{name: "s", typ: tar.TypeSymlink, link: "../outside"},
			{name: "l", typ: tar.TypeLink, link: "s"},
			{name: "l/pwned", body: "x"}}, entry: "l/pwned", want: "symlink"},
		{name: "root replaced by a symlink", entries: []tarEntry{{name: "./", typ: tar.TypeSymlink, link: "../outside"}}, entry: "./", want: "root"},
		{name: "hard link to a missing file", entries: []tarEntry{{name: "l", typ: tar.TypeLink, link: "nothing"}}, entry: "l", want: "no such file"},
		{name: "size beyond the data", entries: []tarEntry{{name: "big", body: "x"}},
			raw: func(b []byte) []byte { return setSizeBase256(b, 0, 1<<50) }, entry: "big", want: "unexpected EOF"},
		{name: "negative size", entries: []tarEntry{{name: "first", body: "x"}, {name: "neg", body: "y"}},
			raw: func(b []byte) []byte { return setSizeBase256(b, 1024, -1) }, entry: "first", want: "invalid"},
		{name: "truncated in the data", entries: []tarEntry{{name: "f", body: strings.Repeat("z", 5000)}},
			raw: func(b []byte) []byte { return b[:512+2000] }, entry: "f", want: "unexpected EOF"},
		{name: "truncated in a header", entries: []tarEntry{{name: "f", body: "x"}, {name: "g", body: "y"}},
			raw: func(b []byte) []byte { return b[:1024+100] }, entry: "f", want: "EOF"},
		{name: "truncated zstd", entries: []tarEntry{{name: "f", body: noise(600 << 10)}},
			raw: func(b []byte) []byte { z := compress(t, b); return z[:len(z)/2] }, entry: "f", want: "EOF"},
		{name: "non-empty directory replaced by a file", entries: []tarEntry{
			{name: "d/f", body: "x"}, {name: "d", body: "y"}}, entry: "d", want: "replace"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSandbox(t)
			before := s.outsideState(t)
			data := buildTar(t, tc.entries)
			if tc.raw != nil {
				data = tc.raw(data)
			}
			_, err := Extract(context.Background(), bytes.NewReader(data), s.target, ExtractOptions{})
			if err == nil {
				t.Fatal("extracted without error")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `"`+tc.entry+`"`) {
				t.Errorf("error %q should name %q and say %q", err, tc.entry, tc.want)
			}
			if after := s.outsideState(t); !slices.Equal(before, after) {
				t.Errorf("outside the target changed:\n%s", diffLines(before, after))
			}
		})
	}
}

func TestExtractEnforcesMaxBytes(t *testing.T) {
	s := newSandbox(t)
	data := buildTar(t, []tarEntry{{name: "a", body: "12345"}, {name: "b", body: noise(5000)}})
	_, err := Extract(context.Background(), bytes.NewReader(data), s.target, ExtractOptions{MaxBytes: 3000})
	if err == nil || !strings.Contains(err.Error(), `"b"`) || !strings.Contains(err.Error(), "MaxBytes") {
		t.Fatalf("error %v", err)
	}
}

func TestExtractReplacesASymlinkInsteadOfWritingThroughIt(t *testing.T) {
	s := newSandbox(t)
	before := s.outsideState(t)
	data := buildTar(t, []tarEntry{
		{name: "secret", typ: tar.TypeSymlink, link: "../outside/secret"},
		{name: "secret", body: "overwritten?"},
	})
	extractBytes(t, data, s.target, ExtractOptions{})
	if after := s.outsideState(t); !slices.Equal(before, after) {
		t.Fatalf("outside changed:\n%s", diffLines(before, after))
	}
	if got, _ := os.ReadFile(filepath.Join(s.target, "secret")); string(got) != "overwritten?" {
		t.Fatalf("target file %q", got)
	}
}

// setSizeBase256 writes a base-256 (GNU binary) size into the header at off, which can hold
// sizes no octal field can, negative ones included, and fixes the checksum.
func setSizeBase256(b []byte, off int, size int64) []byte {
	b = slices.Clone(b)
	field := b[off+124 : off+136]
	for i := len(field) - 1; i >= 0; i-- {
		field[i] = byte(size)
		size >>= 8
	}
	field[0] |= 0x80
	hdr := b[off : off+512]
	copy(hdr[148:156], "        ")
	sum := 0
	for _, c := range hdr {
		sum += int(c)
	}
	copy(hdr[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return b
}

func compress(t testing.TB, data []byte) []byte {
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	return enc.EncodeAll(data, nil)
}

// noise is incompressible text of n bytes, the same every run.
func noise(n int) string {
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return string(b)
}

// Xattrs of the namespaces Pack drops as host state are not restored either: trusted.overlay.*
// would change what an overlay mount built on the tree shows (a redirect or an opaque directory
// from the archive), and security.selinux would relabel files with the build host's policy.
// Each is reported, not set, whoever extracts.
func TestExtractRestoresOnlyTheXattrsAnArchiveKeeps(t *testing.T) {
	dst := t.TempDir()
	data := buildTar(t, []tarEntry{
		{name: "d/", typ: tar.TypeDir, mode: 0o755, xattrs: map[string]string{"trusted.overlay.opaque": "y"}},
		{name: "d/f", body: "x", xattrs: map[string]string{"trusted.overlay.redirect": "/etc", "security.selinux": "system_u:object_r:shadow_t:s0", "user.note": "kept"}},
	})
	rep := extractBytes(t, data, dst, ExtractOptions{})
	for _, c := range []struct{ path, attr string }{{"d", "trusted.overlay.opaque"}, {"d/f", "trusted.overlay.redirect"}, {"d/f", "security.selinux"}} {
		if v, err := getXattr(filepath.Join(dst, c.path), c.attr); err == nil && strings.Contains(string(v), map[string]string{"trusted.overlay.opaque": "y", "trusted.overlay.redirect": "/etc", "security.selinux": "shadow_t"}[c.attr]) {
			t.Errorf("%s: %s restored from the archive (%q)", c.path, c.attr, v)
		}
		if !slices.ContainsFunc(rep.NotRestored, func(n NotRestored) bool { return n.Path == c.path && n.What == "xattr "+c.attr }) {
			t.Errorf("%s: %s not reported: %v", c.path, c.attr, rep.NotRestored)
		}
	}
	if v, err := getXattr(filepath.Join(dst, "d/f"), "user.note"); err != nil || string(v) != "kept" {
		t.Errorf("user xattr: %q %v", v, err)
	}
}

// zstdDirsWithXattr is a compressed tar of n directories, each with one user.* xattr of size
// bytes: a few KiB of zstd for hundreds of MiB of PAX records.
func zstdDirsWithXattr(t testing.TB, n, size int) []byte {
	var entries []tarEntry
	value := strings.Repeat("A", size)
	for i := range n {
		entries = append(entries, tarEntry{name: fmt.Sprintf("d%05d/", i), typ: tar.TypeDir, mode: 0o755, xattrs: map[string]string{"user.big": value}})
	}
	return compress(t, buildTar(t, entries))
}

// Directories are held until the end; a header is not. 300 directories with a MiB of xattr
// each (40 KiB of zstd) used to take 600 MiB of heap; a value no kernel accepts is reported and
// dropped at once.
func TestExtractDoesNotHoldDirectoryHeaders(t *testing.T) {
	data := zstdDirsWithXattr(t, 300, 1<<20-100)
	dst := t.TempDir()
	runtime.GC()
	var rep ExtractReport
	peak := peakHeap(func() { rep = extractBytes(t, data, dst, ExtractOptions{}) })
	if peak > 128<<20 {
		t.Errorf("peak heap %d MiB extracting %d KiB of zstd", peak>>20, len(data)>>10)
	}
	if n := strings.Count(rep.Summary(), "xattr user.big: 300"); n != 1 {
		t.Errorf("report %q, want the 300 oversized xattrs listed", rep.Summary())
	}
}

// Values the kernel might accept still add up: past 64 MiB of directory xattrs the archive is
// refused rather than held.
func TestExtractBoundsTheDirectoryXattrsItHolds(t *testing.T) {
	data := zstdDirsWithXattr(t, 1100, 63<<10)
	_, err := Extract(context.Background(), bytes.NewReader(data), t.TempDir(), ExtractOptions{})
	if err == nil || !strings.Contains(err.Error(), "MiB of xattrs") {
		t.Fatalf("Extract: %v, want it refused for its directory xattrs", err)
	}
}

// A TarSource keeps its headers until it has sorted them: a made-up tar whose xattrs no file
// system could hold (a value over 64 KiB, or 64 MiB of them in all) is refused, not held.
func TestTarSourceRefusesXattrsNoTreeHas(t *testing.T) {
	for name, tc := range map[string]struct {
		data []byte
		want string
	}{
		"value larger than Linux allows": {zstdDirsWithXattr(t, 300, 1<<20-100), "Linux allows"},
		"too many in all":                {zstdDirsWithXattr(t, 1100, 63<<10), "MiB of xattrs"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Pack(context.Background(), TarSource(bytes.NewReader(tc.data)), io.Discard, PackOptions{TempDir: t.TempDir()})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Pack: %v, want it refused (%q)", err, tc.want)
			}
		})
	}
}

// A tar exactly as large as MaxBytes is accepted, one byte more is refused: the bound is the
// recorded size of a section, so the boundary itself must pass.
func TestMaxBytesAcceptsATarOfExactlyThatSize(t *testing.T) {
	data := buildTar(t, []tarEntry{{name: "a", body: "12345"}})
	if _, err := Extract(context.Background(), bytes.NewReader(data), newSandbox(t).target, ExtractOptions{MaxBytes: int64(len(data))}); err != nil {
		t.Fatalf("a tar of exactly MaxBytes (%d) refused: %v", len(data), err)
	}
	_, err := Extract(context.Background(), bytes.NewReader(data), newSandbox(t).target, ExtractOptions{MaxBytes: int64(len(data)) - 1})
	if err == nil || !strings.Contains(err.Error(), "MaxBytes") {
		t.Fatalf("a tar one byte over MaxBytes: %v", err)
	}
}
