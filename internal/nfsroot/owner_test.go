package nfsroot

import (
	"os"
	"path/filepath"
	"testing"

	nfsc "github.com/willscott/go-nfs-client/nfs"
	"github.com/willscott/go-nfs-client/nfs/rpc"
	"golang.org/x/sys/unix"
)

// The ownership of what a node makes on its read-write exports (a node's Persistent root,
// the merged view; shared data, a plain directory): the AUTH_UNIX caller's, as a local file
// system would make it, with Linux's setgid directories. Stock go-nfs handed the handler no
// credentials, so everything was the install server's user's (root).

// rwExports are the two kinds of read-write export, each made fresh by its function.
var rwExports = map[string]func(t *testing.T) Export{
	"a node's Persistent root": func(t *testing.T) Export { return nodesExport(t, tree(t)) },
	"shared data": func(t *testing.T) Export {
		dir := t.TempDir()
		return Export{Path: "/flarecast/ns/g/data/shared", Upper: filepath.Join(dir, "data"), Work: filepath.Join(dir, "work")}
	},
}

// owned checks p's owner and group on the server's directory and as the client sees them,
// and that the set of mode bits setgid is as wanted.
func (n *nodeExport) owned(when, p string, uid, gid uint32, setgid bool) {
	n.t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(n.upper, p), &st); err != nil {
		n.t.Fatalf("%s: %v", when, err)
	}
	if st.Uid != uid || st.Gid != gid || (st.Mode&unix.S_ISGID != 0) != setgid {
		n.t.Errorf("%s: the server's %s is %d:%d mode %o, want %d:%d setgid %v", when, p, st.Uid, st.Gid, st.Mode&0o7777, uid, gid, setgid)
	}
	a := n.getattr(p)
	if a.UID != uid || a.GID != gid || (a.FileMode&0o2000 != 0) != setgid {
		n.t.Errorf("%s: the client sees %s as %d:%d mode %o, want %d:%d setgid %v", when, p, a.UID, a.GID, a.FileMode&0o7777, uid, gid, setgid)
	}
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("giving files to other users needs root")
	}
}

// mknod sends MKNOD (which go-nfs-client lacks) of a FIFO (ftype 7) or a character device
// 1:3 (ftype 4) named name in dir.
func (n *nodeExport) mknod(dir, name string, ftype uint32) {
	n.t.Helper()
	where := nfsc.Diropargs3{FH: n.handle(dir), Filename: name}
	attr := nfsc.Sattr3{Mode: nfsc.SetMode{SetIt: true, Mode: 0o644}}
	var args any = &struct {
		rpc.Header
		Where nfsc.Diropargs3
		Type  uint32
		Attr  nfsc.Sattr3
	}{n.header(11), where, ftype, attr}
	if ftype == 4 {
		args = &struct {
			rpc.Header
			Where nfsc.Diropargs3
			Type  uint32
			Attr  nfsc.Sattr3
			Spec  [2]uint32
		}{n.header(11), where, ftype, attr, [2]uint32{1, 3}}
	}
	if status, _ := n.call(args); status != 0 {
		n.t.Fatalf("MKNOD %s/%s type %d: status %d", dir, name, ftype, status)
	}
}

// TestNewFilesBelongToTheCallersUserAndGroup: a file, a directory, a symbolic link, a FIFO
// and a device node made with AUTH_UNIX 1234:5678 are 1234:5678 on the server and to the client, across a restart
// of the server; at the top and in a directory of the tree (copied up first).
func TestNewFilesBelongToTheCallersUserAndGroup(t *testing.T) {
	requireRoot(t)
	for kind, export := range rwExports {
		t.Run(kind, func(t *testing.T) {
			n := newExport(t, export(t), rpc.NewAuthUnix("n1", 1234, 5678).Auth())
			dir := "srv"
			if _, err := n.target.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			made := []string{dir}
			for _, d := range []string{"", dir} {
				if _, err := n.target.Create(filepath.Join(d, "file"), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := n.target.Symlink("file", filepath.Join(d, "link")); err != nil {
					t.Fatal(err)
				}
				n.mknod(d, "fifo", 7)
				n.mknod(d, "null2", 4)
				made = append(made, filepath.Join(d, "file"), filepath.Join(d, "link"), filepath.Join(d, "fifo"), filepath.Join(d, "null2"))
			}
			if _, err := n.target.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
				t.Fatal(err)
			}
			made = append(made, filepath.Join(dir, "sub"))
			check := func(when string) {
				for _, p := range made {
					n.owned(when, p, 1234, 5678, false)
				}
			}
			check("after making them")
			n.restart()
			check("after a restart of the server")
		})
	}
}

// TestFilesWithoutAuthUnixBelongToRoot: a call with AUTH_NONE makes what a root file
// system's early boot makes, root's.
func TestFilesWithoutAuthUnixBelongToRoot(t *testing.T) {
	requireRoot(t)
	n := newExport(t, nodesExport(t, tree(t)), rpc.AuthNull)
	if _, err := n.target.Create("etc/none", 0o644); err != nil {
		t.Fatal(err)
	}
	n.owned("AUTH_NONE", "etc/none", 0, 0, false)
}

// TestSetgidDirectoriesGiveTheirGroup: in a setgid directory (of the tree, copied up, or
// made by the node), what a 1234:5678 caller makes takes the directory's group, and a
// directory is setgid too, as on Linux; made outside one, it keeps the caller's group.
func TestSetgidDirectoriesGiveTheirGroup(t *testing.T) {
	requireRoot(t)
	for kind, export := range rwExports {
		t.Run(kind, func(t *testing.T) {
			e := export(t)
			shared := e.Dir
			if shared == "" {
				shared = e.Upper
			}
			top := filepath.Join(shared, "team")
			if err := os.MkdirAll(top, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(top, 0, 4242); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(top, 0o2775|os.ModeSetgid); err != nil {
				t.Fatal(err)
			}
			n := newExport(t, e, rpc.NewAuthUnix("n1", 1234, 5678).Auth())
			for _, p := range []string{"team/dir", "team/dir/deeper"} {
				if _, err := n.target.Mkdir(p, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			for _, p := range []string{"team/file", "team/dir/deeper/file"} {
				if _, err := n.target.Create(p, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := n.target.Symlink("file", "team/link"); err != nil {
				t.Fatal(err)
			}
			check := func(when string) {
				n.owned(when, "team/dir", 1234, 4242, true)
				n.owned(when, "team/dir/deeper", 1234, 4242, true)
				n.owned(when, "team/file", 1234, 4242, false)
				n.owned(when, "team/dir/deeper/file", 1234, 4242, false)
				n.owned(when, "team/link", 1234, 4242, false)
			}
			check("after making them")
			n.restart()
			check("after a restart of the server")
		})
	}
}
