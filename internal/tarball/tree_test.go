package tarball

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Extended attribute values exactly as the tools write them: `setcap cap_net_raw+ep` and
// `setfacl -m u:1000:r` on a 0644 file.
const (
	capNetRaw = "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
	aclUser   = "\x02\x00\x00\x00" +
		"\x01\x00\x06\x00\xff\xff\xff\xff" + // user::rw-
		"\x02\x00\x04\x00\xe8\x03\x00\x00" + // user:1000:r--
		"\x04\x00\x04\x00\xff\xff\xff\xff" + // group::r--
		"\x10\x00\x04\x00\xff\xff\xff\xff" + // mask::r--
		"\x20\x00\x04\x00\xff\xff\xff\xff" // other::r--
)

// node is one file of a test tree.
type node struct {
	path   string
	kind   byte // 'd' dir, 'f' file, 'l' symlink, 'h' hard link to target, 'p' fifo, 'c'/'b' device, 's' socket, 'S' sparse
	mode   os.FileMode
	data   string
	target string
	uid    int
	xattrs map[string]string
	root   bool // needs root to create
}

var isRoot = os.Geteuid() == 0

// richTree has every kind of entry an image holds. Owners and root-only attributes are set
// only when the test runs as root.
func richTree() []node {
	return []node{
		{path: "bin", kind: 'd', mode: 0o755},
		{path: "bin/ping", kind: 'f', mode: 0o755, data: "ping binary", xattrs: map[string]string{"security.capability": capNetRaw}, root: true},
		{path: "bin/sh", kind: 'f', mode: 0o755, data: "#!shell\n"},
		{path: "bin/su", kind: 'f', mode: 0o4755 | os.ModeSetuid, data: "su binary"},
		{path: "bin/wall", kind: 'f', mode: 0o2755 | os.ModeSetgid, data: "wall", uid: 5},
		{path: "dev", kind: 'd', mode: 0o755},
		{path: "dev/null", kind: 'c', mode: 0o666, target: "1:3", root: true},
		{path: "dev/loop0", kind: 'b', mode: 0o660, target: "7:0", uid: 6, root: true},
		{path: "etc", kind: 'd', mode: 0o755},
		{path: "etc/acl-file", kind: 'f', mode: 0o644, data: "acl", xattrs: map[string]string{"system.posix_acl_access": aclUser}},
		{path: "etc/empty", kind: 'f', mode: 0o600},
		{path: "etc/hosts", kind: 'f', mode: 0o644, data: "127.0.0.1 localhost\n", xattrs: map[string]string{"user.b": "2", "user.a": "1"}},
		{path: "etc/hosts.d", kind: 'd', mode: 0o750, uid: 1000},
		{path: "etc/hosts.d/z", kind: 'f', mode: 0o640, data: "zz", uid: 1000},
		{path: "etc/hosts-link", kind: 'h', target: "etc/hosts"},
		{path: "etc/localtime", kind: 'l', target: "/usr/share/zoneinfo/UTC"},
		{path: "etc/rc", kind: 'l', target: "../bin/sh", uid: 7},
		{path: "tmp", kind: 'd', mode: 0o1777 | os.ModeSticky},
		{path: "tmp/fifo", kind: 'p', mode: 0o644},
		{path: "tmp/socket", kind: 's'},
		{path: "usr", kind: 'd', mode: 0o755},
		{path: "usr/share", kind: 'd', mode: 0o755},
		{path: "usr/share/" + strings.Repeat("long-name-", 14), kind: 'f', mode: 0o644, data: "past the 100 bytes of a ustar name"},
		{path: "usr/share/naïve-日本-\xff", kind: 'f', mode: 0o644, data: "non-ASCII, and a byte that is not UTF-8"},
		{path: "usr/share/link-" + strings.Repeat("t", 120), kind: 'l', target: strings.Repeat("../", 40) + "target-past-100-bytes"},
		{path: "usr/lib", kind: 'd', mode: 0o755},
		{path: "usr/lib/libc.so", kind: 'f', mode: 0o755, data: strings.Repeat("libc", 5000)},
		{path: "usr/lib/libc.so.6", kind: 'h', target: "usr/lib/libc.so"},
		{path: "usr/a-link", kind: 'h', target: "usr/lib/libc.so"},
		{path: "var", kind: 'd', mode: 0o755},
		{path: "var/sparse", kind: 'S', mode: 0o644, data: "tail"},
	}
}

// sparseSize is the size of the sparse file of richTree: a hole, 4 bytes, a hole.
const sparseSize = 3 << 20

// makeTree creates nodes under dir in the given order (parents must come first), then sets
// every modification time to mtime.
func makeTree(t testing.TB, dir string, nodes []node, mtime time.Time) {
	t.Helper()
	for _, n := range nodes {
		if n.root && !isRoot {
			continue
		}
		p := filepath.Join(dir, n.path)
		var err error
		switch n.kind {
		case 'd':
			err = os.Mkdir(p, 0o755)
		case 'f':
			err = os.WriteFile(p, []byte(n.data), 0o644)
		case 'S':
			err = writeSparse(p, n.data)
		case 'l':
			err = os.Symlink(n.target, p)
		case 'h':
			err = os.Link(filepath.Join(dir, n.target), p)
		case 'p':
			err = unix.Mkfifo(p, 0o644)
		case 'c', 'b':
			var major, minor uint32
			fmt.Sscanf(n.target, "%d:%d", &major, &minor)
			mode := uint32(unix.S_IFCHR)
			if n.kind == 'b' {
				mode = unix.S_IFBLK
			}
			err = unix.Mknod(p, mode|0o600, int(unix.Mkdev(major, minor)))
		case 's':
			var fd int
			fd, err = unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
			if err == nil {
				err = unix.Bind(fd, &unix.SockaddrUnix{Name: p})
				unix.Close(fd)
			}
		}
		if err != nil {
			t.Fatalf("create %s: %v", n.path, err)
		}
		if n.kind == 'h' || n.kind == 's' {
			continue
		}
		if isRoot {
			if err := os.Lchown(p, n.uid, n.uid); err != nil {
				t.Fatal(err)
			}
		}
		if n.kind != 'l' {
			if err := os.Chmod(p, n.mode); err != nil {
				t.Fatal(err)
			}
		}
		for k, v := range n.xattrs {
			if err := unix.Lsetxattr(p, k, []byte(v), 0); err != nil {
				t.Fatalf("setxattr %s on %s: %v", k, n.path, err)
			}
		}
	}
	setTimes(t, dir, mtime)
}

func writeSparse(p, data string) error {
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte(data), 1<<20); err != nil {
		return err
	}
	return f.Truncate(sparseSize)
}

func setTimes(t testing.TB, dir string, mtime time.Time) {
	t.Helper()
	ts := []unix.Timespec{unix.NsecToTimespec(mtime.UnixNano()), unix.NsecToTimespec(mtime.UnixNano())}
	var paths []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		paths = append(paths, p)
		return err
	})
	slices.Reverse(paths) // children before parents, or setting them would move the parent's time
	for _, p := range paths {
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			t.Fatal(err)
		}
	}
}

// describe lists everything observable about a tree except times: one line per path with
// type, mode, owner, link count, size, content digest, link target, device and kept xattrs.
func describe(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		line := fmt.Sprintf("%s type=%o mode=%04o owner=%d:%d nlink=%d", rel, st.Mode&unix.S_IFMT, st.Mode&0o7777, st.Uid, st.Gid, st.Nlink)
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			line = fmt.Sprintf("%s type=%o mode=%04o owner=%d:%d", rel, st.Mode&unix.S_IFMT, st.Mode&0o7777, st.Uid, st.Gid)
		case unix.S_IFREG:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(data)
			line += fmt.Sprintf(" size=%d sha=%s", st.Size, hex.EncodeToString(sum[:8]))
		case unix.S_IFLNK:
			target, _ := os.Readlink(p)
			line += " -> " + target
		case unix.S_IFCHR, unix.S_IFBLK:
			line += fmt.Sprintf(" dev=%d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
		}
		names, _ := listXattrs(p)
		slices.Sort(names)
		for _, name := range names {
			if KeepXattr(name) {
				v, _ := getXattr(p, name)
				line += fmt.Sprintf(" %s=%x", name, v)
			}
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// mtimes maps each path to its modification time.
func mtimes(t testing.TB, dir string) map[string]int64 {
	t.Helper()
	out := make(map[string]int64)
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		var st unix.Stat_t
		if err == nil && unix.Lstat(p, &st) == nil {
			rel, _ := filepath.Rel(dir, p)
			out[rel] = st.Mtim.Nano()
		}
		return err
	})
	return out
}

func diffLines(a, b []string) string {
	var d []string
	for _, l := range a {
		if !slices.Contains(b, l) {
			d = append(d, "- "+l)
		}
	}
	for _, l := range b {
		if !slices.Contains(a, l) {
			d = append(d, "+ "+l)
		}
	}
	return strings.Join(d, "\n")
}
