package nfsroot

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	billy "github.com/go-git/go-billy/v5"
	nfsfile "github.com/willscott/go-nfs/file"

	"github.com/flarecast/flarecast/internal/testsupport/fstree"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

// merged opens a merged export of lower with its upper and work directories under dir.
func merged(t *testing.T, lower, dir string) (*Server, *overlayFS) {
	t.Helper()
	s, err := New([]Export{{Path: "/flarecast/ns/g/nodes/n1", Dir: lower, Upper: filepath.Join(dir, "upper"), Work: filepath.Join(dir, "work")}}, WithHandleKey(testKey))
	if err != nil {
		t.Fatal(err)
	}
	for o := range s.merged {
		return s, o
	}
	t.Fatal("no merged export")
	return nil, nil
}

func readAll(t *testing.T, f billy.Filesystem, name string) string {
	t.Helper()
	r, err := f.Open(name)
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func names(t *testing.T, f billy.Filesystem, dir string) []string {
	t.Helper()
	fis, err := f.ReadDir(dir)
	if err != nil {
		t.Fatalf("readdir %s: %v", dir, err)
	}
	var out []string
	for _, fi := range fis {
		out = append(out, fi.Name())
	}
	return out
}

func TestMergedExportWritesGoUpAndTheTreeStaysAsItWas(t *testing.T) {
	lower := tree(t)
	before := fstree.State(t, lower)
	_, o := merged(t, lower, t.TempDir())

	// A write to a file of the tree copies it up whole, then changes the copy.
	w, err := o.OpenFile("etc/hostname", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Seek(0, io.SeekEnd); err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "renamed\n")
	w.Close()
	if got := readAll(t, o, "etc/hostname"); got != "diskless\nrenamed\n" {
		t.Errorf("etc/hostname reads %q", got)
	}
	// A new file, a new directory, a symbolic link.
	if err := o.MkdirAll("var/lib/node", 0o750); err != nil {
		t.Fatal(err)
	}
	f, err := o.Create("var/lib/node/state")
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(f, "kept\n")
	f.Close()
	if err := o.Symlink("/var/lib/node/state", "etc/state"); err != nil {
		t.Fatal(err)
	}
	if target, err := o.Readlink("etc/state"); err != nil || target != "/var/lib/node/state" {
		t.Errorf("readlink etc/state: %q %v", target, err)
	}
	// setuid survives a chmod (go-nfs hands over the permission bits alone, and a copy-up
	// keeps the bits a file had).
	if err := o.Chmod("usr/bin/real", 0o700); err != nil {
		t.Fatal(err)
	}
	if fi, err := o.Lstat("usr/bin/su"); err != nil || fi.Mode()&0o7777 != 0o4755 {
		t.Errorf("usr/bin/su: %v %v", fi.Mode(), err)
	}
	if err := o.Chtimes("usr/bin/su", time.Unix(1, 0), time.Unix(1e9, 0)); err != nil {
		t.Fatal(err)
	}
	if fi, _ := o.Lstat("usr/bin/su"); fi.Mode()&0o7777 != 0o4755 || !fi.ModTime().Equal(time.Unix(1e9, 0)) {
		t.Errorf("usr/bin/su after chtimes: %v %v", fi.Mode(), fi.ModTime())
	}
	if fi, _ := o.Lstat("usr/bin/real"); fi.Mode()&0o7777 != 0o700 {
		t.Errorf("usr/bin/real after chmod: %v", fi.Mode())
	}
	// Removals and renames of files of the tree.
	if err := o.Remove("etc/hostname.link"); err != nil {
		t.Fatal(err)
	}
	if err := o.Rename("etc/editor", "etc/editor.old"); err != nil {
		t.Fatal(err)
	}
	if got := names(t, o, "etc"); !slices.Equal(got, []string{"alternatives", "editor.old", "hostname", "state"}) {
		t.Errorf("etc lists %v", got)
	}
	if target, _ := o.Readlink("etc/editor.old"); target != "../usr/bin/real" {
		t.Errorf("etc/editor.old links to %q", target)
	}
	// A directory of the tree removed and made again shows none of its old entries.
	if err := o.Remove("etc/alternatives/editor"); err != nil {
		t.Fatal(err)
	}
	if err := o.Remove("etc/alternatives"); err != nil {
		t.Fatal(err)
	}
	if err := o.MkdirAll("etc/alternatives", 0o755); err != nil {
		t.Fatal(err)
	}
	if got := names(t, o, "etc/alternatives"); len(got) != 0 {
		t.Errorf("etc/alternatives made again lists %v", got)
	}
	// A directory of the tree is not renamed (overlayfs's answer: tools copy instead).
	if err := o.Rename("usr/bin", "usr/sbin"); !errors.Is(err, syscall.EXDEV) {
		t.Errorf("rename of a directory of the tree: %v, want EXDEV", err)
	}
	// A non-empty directory is not removed.
	if err := o.Remove("usr"); !errors.Is(err, syscall.ENOTEMPTY) {
		t.Errorf("remove usr: %v, want ENOTEMPTY", err)
	}
	// Whiteout names are the export's own.
	if _, err := o.Create("tmp/.wh.x"); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("create tmp/.wh.x: %v, want a permission error", err)
	}
	if after := fstree.State(t, lower); after != before {
		t.Errorf("the lower tree changed:\nbefore\n%s\nafter\n%s", before, after)
	}
}

func TestCopyUpKeepsOwnerModeTimesAndHandles(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("owners can be kept by root only")
	}
	lower := tree(t)
	os.Lchown(filepath.Join(lower, "etc/hostname"), 123, 456)
	old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	os.Chtimes(filepath.Join(lower, "etc/hostname"), old, old)
	s, o := merged(t, lower, t.TempDir())
	h := &handler{s}
	fh := h.ToHandle(o, []string{"etc", "hostname"})
	before, _ := o.Lstat("etc/hostname")

	if err := o.Chmod("etc/hostname", 0o600); err != nil {
		t.Fatal(err)
	}
	after, _ := o.Lstat("etc/hostname")
	up, err := os.Lstat(filepath.Join(o.upper, "etc/hostname"))
	if err != nil {
		t.Fatalf("no copy in the upper directory: %v", err)
	}
	ust := up.Sys().(*syscall.Stat_t)
	if ust.Uid != 123 || ust.Gid != 456 || up.Mode().Perm() != 0o600 || !up.ModTime().Equal(old) {
		t.Errorf("the copy is %d:%d %v %v, want 123:456 -rw------- %v", ust.Uid, ust.Gid, up.Mode(), up.ModTime(), old)
	}
	if !bytes.Equal(h.ToHandle(o, []string{"etc", "hostname"}), fh) {
		t.Error("the handle changed with the copy-up")
	}
	if fileIDOf(before) != fileIDOf(after) {
		t.Errorf("the file id changed with the copy-up: %d, then %d", fileIDOf(before), fileIDOf(after))
	}
	if err := o.Rename("etc/hostname", "etc/hostname.old"); err != nil {
		t.Fatal(err)
	}
	_, p, err := h.FromHandle(fh)
	if err != nil || filepath.Join(p...) != "etc/hostname.old" {
		t.Errorf("the handle taken before the copy-up and the rename resolves to %v, %v", p, err)
	}
}

func fileIDOf(fi os.FileInfo) uint64 {
	return fi.Sys().(*nfsfile.FileInfo).Fileid
}

func TestMergedHandlesSurviveARestartAndCannotBeMadeUp(t *testing.T) {
	lower, dir := tree(t), t.TempDir()
	s, o := merged(t, lower, dir)
	if err := o.MkdirAll("srv/new", 0o755); err != nil {
		t.Fatal(err)
	}
	f, _ := o.Create("srv/new/file")
	f.Close()
	if err := o.Chmod("etc/hostname", 0o640); err != nil {
		t.Fatal(err)
	}
	h := &handler{s}
	fresh := h.ToHandle(o, []string{"srv", "new", "file"})
	copied := h.ToHandle(o, []string{"etc", "hostname"})
	tree := h.ToHandle(o, []string{"usr", "bin", "su"})

	s2, _ := merged(t, lower, dir)
	h2 := &handler{s2}
	for name, fh := range map[string][]byte{"srv/new/file": fresh, "etc/hostname": copied, "usr/bin/su": tree} {
		_, p, err := h2.FromHandle(fh)
		if err != nil || filepath.Join(p...) != name {
			t.Errorf("after a restart the handle of %s resolves to %v, %v", name, p, err)
		}
	}
	forged := slices.Clone(tree)
	forged[len(forged)-1] ^= 1
	if _, _, err := h2.FromHandle(forged); err == nil {
		t.Error("a handle with a wrong MAC was taken")
	}
	other, err := New([]Export{{Path: "/flarecast/ns/g/nodes/n1", Dir: lower, Upper: filepath.Join(dir, "upper"), Work: filepath.Join(dir, "work")}}, WithHandleKey([]byte("another key of the same length!!")))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := (&handler{other}).FromHandle(tree); err == nil {
		t.Error("a server with another key took the handle")
	}
}

func TestACrashLeavesTheNodesDirectoryConsistent(t *testing.T) {
	lower, dir := tree(t), t.TempDir()
	_, o := merged(t, lower, dir)
	if err := o.Remove("etc/hostname"); err != nil {
		t.Fatal(err)
	}
	// What a kill between the steps of a copy-up, a removal and a new file leaves: a copy
	// not yet renamed into place, a removed directory not yet deleted, an entry made again
	// whose whiteout is still there.
	os.WriteFile(filepath.Join(o.work, "copyup-dead"), []byte("half"), 0o600)
	os.MkdirAll(filepath.Join(o.work, "removed-dead", "x"), 0o755)
	os.WriteFile(filepath.Join(o.upper, "etc", "hostname"), []byte("again\n"), 0o644)

	_, o2 := merged(t, lower, dir)
	if left, _ := os.ReadDir(o2.work); len(left) != 0 {
		t.Errorf("work holds %d leftovers after the restart", len(left))
	}
	if got := readAll(t, o2, "etc/hostname"); got != "again\n" {
		t.Errorf("an upper entry beside its whiteout reads %q, want it to win", got)
	}
	if got := names(t, o2, "etc"); slices.Contains(got, ".wh.hostname") || !slices.Contains(got, "hostname") {
		t.Errorf("etc lists %v", got)
	}
}

func TestSharedDataExportIsAPlainReadWriteDirectory(t *testing.T) {
	dir := t.TempDir()
	s, err := New([]Export{{Path: "/flarecast/ns/g/data/shared", Upper: filepath.Join(dir, "data"), Work: filepath.Join(dir, "work")}}, WithHandleKey(testKey))
	if err != nil {
		t.Fatal(err)
	}
	var o *overlayFS
	for m := range s.merged {
		o = m
	}
	f, err := o.Create("a")
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(f, "one")
	f.Close()
	if err := o.Rename("a", "b"); err != nil {
		t.Fatal(err)
	}
	if err := o.MkdirAll("d/e", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := o.Rename("d", "f"); err != nil {
		t.Fatalf("rename of a directory of shared data: %v", err)
	}
	if err := o.Remove("b"); err != nil {
		t.Fatal(err)
	}
	if got := names(t, o, ""); !slices.Equal(got, []string{"f"}) {
		t.Errorf("the data lists %v", got)
	}
	if des, _ := os.ReadDir(filepath.Join(dir, "data")); len(des) != 1 || des[0].Name() != "f" {
		t.Errorf("the data directory holds %v, want f alone (no whiteouts without a lower tree)", des)
	}
}

func TestReadWriteExportsNeedAHandleKey(t *testing.T) {
	dir := t.TempDir()
	_, err := New([]Export{{Path: "/x", Upper: filepath.Join(dir, "u"), Work: filepath.Join(dir, "w")}})
	if err == nil {
		t.Fatal("a read-write export was opened without a handle key")
	}
}

// TestABrokenNodeDirectoryLeavesTheOtherExportsServed: a read-write export whose directory
// cannot be opened (here a file where the upper directory should be) is left out and said,
// and the group's root is served; without WithRefused, New fails whole.
func TestABrokenNodeDirectoryLeavesTheOtherExportsServed(t *testing.T) {
	lower, dir := tree(t), t.TempDir()
	blocked := filepath.Join(dir, "upper")
	os.WriteFile(blocked, []byte("not a directory"), 0o644)
	exports := []Export{{Path: "/flarecast/ns/g", Dir: lower},
		{Path: "/flarecast/ns/g/nodes/n1", Dir: lower, Upper: blocked, Work: filepath.Join(dir, "work")}}
	var refused []string
	s, err := New(exports, WithHandleKey(testKey), WithRefused(func(path string, err error) { refused = append(refused, path) }))
	if err != nil {
		t.Fatal(err)
	}
	if !s.Served("/flarecast/ns/g") || s.Served("/flarecast/ns/g/nodes/n1") || !slices.Equal(refused, []string{"/flarecast/ns/g/nodes/n1"}) {
		t.Errorf("served root %v, node %v; refused %v", s.Served("/flarecast/ns/g"), s.Served("/flarecast/ns/g/nodes/n1"), refused)
	}
	if _, err := New(exports, WithHandleKey(testKey)); err == nil {
		t.Error("New without WithRefused opened a broken read-write export")
	}
}
