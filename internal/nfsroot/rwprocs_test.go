package nfsroot

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	nfsc "github.com/willscott/go-nfs-client/nfs"
	"github.com/willscott/go-nfs-client/nfs/rpc"
	"github.com/willscott/go-nfs-client/nfs/xdr"
	"golang.org/x/sys/unix"
)

// The procedures a root file system needs on a node's read-write export and that go-nfs
// v0.0.4 got wrong (third_party/go-nfs/README.flarecast.md): LINK, SETATTR's special mode
// bits, MKNOD of devices, and the errors of RMDIR and RENAME. The client is go-nfs-client
// from another namespace, with LINK and MKNOD (which it lacks) sent as raw RPC calls; the
// Linux kernel's client does the same through a qemu guest (test/e2e, Persistent root).

// nodeExport is a merged export of tree(t) for 198.18.60.2, served in one namespace and
// mounted with go-nfs-client from the other.
type nodeExport struct {
	t      *testing.T
	upper  string
	auth   rpc.Auth
	target *nfsc.Target
	client *rpc.Client
	s      *served
	// restart stops the server, starts a new one over the same directories and mounts again.
	restart func()
	remount func()
}

func newNodeExport(t *testing.T) *nodeExport {
	t.Helper()
	return newExport(t, nodesExport(t, tree(t)), rpc.AuthNull)
}

// nodesExport is node n1's merged export of lower, for 198.18.60.2.
func nodesExport(t *testing.T, lower string) Export {
	dir := t.TempDir()
	return Export{Path: "/flarecast/ns/g/nodes/n1", Dir: lower, Upper: filepath.Join(dir, "upper"), Work: filepath.Join(dir, "work"),
		Clients: []netip.Addr{netip.MustParseAddr("198.18.60.2")}}
}

// newExport serves e and mounts it from the client's namespace, calling with auth.
func newExport(t *testing.T, e Export, auth rpc.Auth) *nodeExport {
	t.Helper()
	server, client := lab(t)
	exports := []Export{e}
	n := &nodeExport{t: t, upper: e.Upper, auth: auth}
	n.s = serve(t, server, exports, 0, WithHandleKey(testKey))
	port := n.s.port
	n.remount = func() {
		if n.client != nil {
			n.client.Close()
		}
		if err := client.InNetns(func() (err error) {
			n.client, err = rpc.DialTCP("tcp", fmt.Sprintf("198.18.60.1:%d", port), false)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		m := &nfsc.Mount{Client: n.client}
		target, err := m.Mount(e.Path, auth)
		if err != nil {
			t.Fatal(err)
		}
		n.target = target
	}
	n.remount()
	t.Cleanup(func() { n.client.Close() })
	n.restart = func() {
		n.s.stop()
		n.s = serve(t, server, exports, port, WithHandleKey(testKey))
		n.remount()
	}
	return n
}

func (n *nodeExport) header(proc uint32) rpc.Header {
	return rpc.Header{Rpcvers: 2, Prog: nfsc.Nfs3Prog, Vers: nfsc.Nfs3Vers, Proc: proc, Cred: n.auth, Verf: rpc.AuthNull}
}

func (n *nodeExport) handle(p string) []byte {
	n.t.Helper()
	_, fh, err := n.target.Lookup(p)
	if err != nil {
		n.t.Fatalf("lookup %s: %v", p, err)
	}
	return fh
}

// call sends a procedure's arguments and returns its status and the rest of the reply.
func (n *nodeExport) call(args any) (uint32, io.Reader) {
	n.t.Helper()
	res, err := n.target.Call(args)
	if err != nil {
		n.t.Fatal(err)
	}
	status, err := xdr.ReadUint32(res)
	if err != nil {
		n.t.Fatal(err)
	}
	return status, res
}

// link is LINK3args = { nfs_fh3 file; diropargs3 link; }; it returns the status and the
// file's attributes after it.
func (n *nodeExport) link(file, dir, name string) (uint32, nfsc.PostOpAttr) {
	n.t.Helper()
	type linkArgs struct {
		rpc.Header
		File []byte
		Link nfsc.Diropargs3
	}
	status, res := n.call(&linkArgs{Header: n.header(15), File: n.handle(file), Link: nfsc.Diropargs3{FH: n.handle(dir), Filename: name}})
	var attr nfsc.PostOpAttr
	if status == 0 {
		if err := xdr.Read(res, &attr); err != nil {
			n.t.Fatalf("LINK's reply: %v", err)
		}
	}
	return status, attr
}

func (n *nodeExport) getattr(p string) *nfsc.Fattr {
	n.t.Helper()
	a, err := n.target.Getattr(p)
	if err != nil {
		n.t.Fatalf("getattr %s: %v", p, err)
	}
	return a
}

func inode(t *testing.T, p string) (ino uint64, nlink uint64) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino, uint64(st.Nlink)
}

// TestLinkMakesAHardLinkOnANodesExport: `ln` of a file of the tree (copied up first) and of
// a file the node made gives two names of one file: one file id and a link count of 2 to the
// client, one inode on the install server, kept across a restart of the server; removing
// one name leaves the other readable through the handle the node holds. Stock go-nfs read
// LINK's arguments as SYMLINK's (NFS3ERR_INVAL, or a link to the wrong names).
func TestLinkMakesAHardLinkOnANodesExport(t *testing.T) {
	n := newNodeExport(t)
	f, err := n.target.OpenFile("etc/motd", 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("made by n1\n")); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for _, l := range []struct{ file, dir, name string }{{"usr/bin/real", "usr/bin", "vi"}, {"etc/motd", "etc", "motd.2"}} {
		status, attr := n.link(l.file, l.dir, l.name)
		if status != 0 {
			t.Fatalf("LINK %s to %s/%s: status %d", l.file, l.dir, l.name, status)
		}
		if !attr.IsSet || attr.Attr.Nlink != 2 {
			t.Errorf("LINK %s answered the file's attributes %+v, want a link count of 2", l.file, attr)
		}
	}
	check := func(when string) {
		for _, pair := range [][2]string{{"usr/bin/real", "usr/bin/vi"}, {"etc/motd", "etc/motd.2"}} {
			a, b := n.getattr(pair[0]), n.getattr(pair[1])
			if a.Fileid != b.Fileid || a.Nlink != 2 || b.Nlink != 2 {
				t.Errorf("%s: %s is file %d with %d links, %s file %d with %d links: want one file with 2", when, pair[0], a.Fileid, a.Nlink, pair[1], b.Fileid, b.Nlink)
			}
			ia, la := inode(t, filepath.Join(n.upper, pair[0]))
			ib, _ := inode(t, filepath.Join(n.upper, pair[1]))
			if ia != ib || la != 2 {
				t.Errorf("%s: on the server %s is inode %d (%d links), %s inode %d", when, pair[0], ia, la, pair[1], ib)
			}
		}
		if got := readNFS(t, n.target, "usr/bin/vi"); got != "real editor\n" {
			t.Errorf("%s: usr/bin/vi reads %q", when, got)
		}
	}
	check("after ln")
	n.restart()
	check("after a restart of the server")

	held := n.handle("etc/motd.2")
	if err := n.target.Remove("etc/motd"); err != nil {
		t.Fatal(err)
	}
	a, err := n.target.GetAttr(held)
	if err != nil || a.Nlink != 1 {
		t.Errorf("etc/motd.2's handle after rm etc/motd: %+v, %v; want the file with 1 link", a, err)
	}
	if got := readNFS(t, n.target, "etc/motd.2"); got != "made by n1\n" {
		t.Errorf("etc/motd.2 reads %q after rm etc/motd", got)
	}
	if status, _ := n.link("etc", "usr", "etc"); status != nfsc.NFS3ErrExist && status != nfsc.NFS3ErrIsDir {
		t.Errorf("LINK of a directory: status %d, want NFS3ERR_ISDIR", status)
	}
}

func readNFS(t *testing.T, target *nfsc.Target, p string) string {
	t.Helper()
	f, err := target.Open(p)
	if err != nil {
		t.Fatalf("open %s: %v", p, err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	return string(b)
}

// TestChmodKeepsSetuidSetgidAndStickyOnANodesExport: `chmod u+s,g+s` of a directory and of
// a file, and `chmod +t` of a directory, reach the client and the server's copy (the files
// of the tree are copied up first) and survive a restart. Stock go-nfs compared and set the
// nine permission bits only: the chmod was never made.
func TestChmodKeepsSetuidSetgidAndStickyOnANodesExport(t *testing.T) {
	n := newNodeExport(t)
	if _, err := n.target.Mkdir("srv", 0o755); err != nil {
		t.Fatal(err)
	}
	want := map[string]uint32{"srv": 0o6755, "etc": 0o1755, "usr/bin/real": 0o4755, "var/mail": 0o0775}
	for p, mode := range want {
		if err := n.target.Setattr(p, nfsc.Sattr3{Mode: nfsc.SetMode{SetIt: true, Mode: mode}}); err != nil {
			t.Fatalf("chmod %o %s: %v", mode, p, err)
		}
	}
	check := func(when string) {
		for p, mode := range want {
			if got := n.getattr(p).FileMode & 0o7777; got != mode {
				t.Errorf("%s: the client sees %s as %o, want %o", when, p, got, mode)
			}
			var st unix.Stat_t
			if err := unix.Lstat(filepath.Join(n.upper, p), &st); err != nil {
				t.Fatal(err)
			}
			if got := st.Mode & 0o7777; got != mode {
				t.Errorf("%s: the server's %s is %o, want %o", when, p, got, mode)
			}
		}
	}
	check("after chmod")
	n.restart()
	check("after a restart of the server")
}

// TestMknodMakesDeviceNodesOnANodesExport: MKNOD of a character and a block device makes
// them with their numbers. Stock go-nfs made nothing for a character device (an empty
// case) and a regular file for a block device (mknod(2) was given no file type).
func TestMknodMakesDeviceNodesOnANodesExport(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mknod of a device needs root")
	}
	n := newNodeExport(t)
	type mknodArgs struct {
		rpc.Header
		Where nfsc.Diropargs3
		Type  uint32
		Attr  nfsc.Sattr3
		Spec  [2]uint32
	}
	for _, d := range []struct {
		name  string
		ftype uint32
		kind  uint32
		spec  [2]uint32
	}{{"null2", 4, unix.S_IFCHR, [2]uint32{1, 3}}, {"loop9", 3, unix.S_IFBLK, [2]uint32{7, 9}}} {
		status, _ := n.call(&mknodArgs{Header: n.header(11), Where: nfsc.Diropargs3{FH: n.handle("etc"), Filename: d.name}, Type: d.ftype,
			Attr: nfsc.Sattr3{Mode: nfsc.SetMode{SetIt: true, Mode: 0o666}}, Spec: d.spec})
		if status != 0 {
			t.Fatalf("MKNOD %s: status %d", d.name, status)
		}
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(n.upper, "etc", d.name), &st); err != nil {
			t.Fatalf("MKNOD %s made nothing on the server: %v", d.name, err)
		}
		if st.Mode&unix.S_IFMT != d.kind || unix.Major(st.Rdev) != d.spec[0] || unix.Minor(st.Rdev) != d.spec[1] || st.Mode&0o7777 != 0o666 {
			t.Errorf("MKNOD %s made mode %o device %d:%d, want type %o, 666, %d:%d", d.name, st.Mode, unix.Major(st.Rdev), unix.Minor(st.Rdev), d.kind, d.spec[0], d.spec[1])
		}
		if a := n.getattr("etc/" + d.name); a.SpecData != d.spec {
			t.Errorf("the client sees %s as device %v, want %v", d.name, a.SpecData, d.spec)
		}
	}
}

// TestRmdirAndRenameAnswerTheFileSystemsErrno: an rmdir of a directory that is not empty
// is NFS3ERR_NOTEMPTY (rmdir, dpkg and rm expect ENOTEMPTY) and the rename of a directory of
// the tree NFS3ERR_XDEV (mv then copies it, as over overlayfs). Stock go-nfs answered both
// with NFS3ERR_IO.
func TestRmdirAndRenameAnswerTheFileSystemsErrno(t *testing.T) {
	n := newNodeExport(t)
	nfsErr := func(err error) uint32 {
		var e *nfsc.Error
		if errors.As(err, &e) {
			return e.ErrorNum
		}
		return 0
	}
	if err := n.target.RmDir("usr/bin"); nfsErr(err) != nfsc.NFS3ErrNotEmpty {
		t.Errorf("rmdir usr/bin: %v, want NFS3ERR_NOTEMPTY", err)
	}
	if err := n.target.Rename("var/mail", "var/post"); nfsErr(err) != nfsc.NFS3ErrXDev {
		t.Errorf("mv var/mail var/post: %v, want NFS3ERR_XDEV", err)
	}
	if _, err := os.Lstat(filepath.Join(n.upper, "var", "post")); !errors.Is(err, syscall.ENOENT) {
		t.Errorf("the refused rename left var/post on the server: %v", err)
	}
}
