package nfsroot

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	nfsc "github.com/willscott/go-nfs-client/nfs"
	"github.com/willscott/go-nfs-client/nfs/rpc"

	"github.com/flarecast/flarecast/internal/testsupport/netlab"
)

// tree is a small root file system with what go-nfs got wrong: setuid, setgid and sticky
// bits, absolute and relative symbolic links, a hard link.
func tree(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "root")
	for _, d := range []string{"usr/bin", "etc/alternatives", "tmp", "var/mail"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	write := func(p, body string, mode os.FileMode) {
		if err := os.WriteFile(filepath.Join(root, p), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		// chmod after the write: the umask would drop bits given to WriteFile.
		if err := os.Chmod(filepath.Join(root, p), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("usr/bin/su", "#!/bin/sh\necho su\n", 0o755|os.ModeSetuid)
	write("usr/bin/real", "real editor\n", 0o755)
	write("etc/hostname", "diskless\n", 0o644)
	os.Chmod(filepath.Join(root, "tmp"), 0o777|os.ModeSticky)
	os.Chmod(filepath.Join(root, "var/mail"), 0o775|os.ModeSetgid)
	os.Symlink("/usr/bin/real", filepath.Join(root, "etc/alternatives/editor"))
	os.Symlink("../usr/bin/real", filepath.Join(root, "etc/editor"))
	os.Link(filepath.Join(root, "etc/hostname"), filepath.Join(root, "etc/hostname.link"))
	return root
}

type served struct {
	ns   *netlab.Netns
	port int
	stop func()
}

// serve runs a Server over exports in its own namespace, at 198.18.60.1.
func serve(t *testing.T, ns *netlab.Netns, exports []Export, port int, opts ...Option) *served {
	t.Helper()
	s, err := New(exports, opts...)
	if err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	if err := ns.InNetns(func() (err error) {
		ln, err = net.Listen("tcp", fmt.Sprintf("198.18.60.1:%d", port))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		}
	}
	t.Cleanup(stop)
	return &served{ns: ns, port: ln.Addr().(*net.TCPAddr).Port, stop: stop}
}

func lab(t *testing.T) (server, client *netlab.Netns) {
	netlab.RequirePeers(t, "nfs-ls", "nfs-cat")
	server, client = netlab.NewNetns(t, "nfs-s"), netlab.NewNetns(t, "nfs-c")
	netlab.Link(t, server, "nfs0", "198.18.60.1/24", client, "eth0", "198.18.60.2/24")
	return server, client
}

func url(s *served, export, file string) string {
	return fmt.Sprintf("nfs://198.18.60.1%s%s?version=3&nfsport=%d&mountport=%d&auto-traverse-mounts=0", export, file, s.port, s.port)
}

// listing is nfs-ls's long listing of a directory, by name.
func listing(t *testing.T, client *netlab.Netns, u string) map[string]string {
	t.Helper()
	out, err := client.Output("nfs-ls", u)
	if err != nil {
		t.Fatalf("nfs-ls %s: %v\n%s", u, err, out)
	}
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 {
			m[f[len(f)-1]] = f[0]
		}
	}
	return m
}

func TestAnExportKeepsTheBitsAndLinksOfARootFileSystem(t *testing.T) {
	server, client := lab(t)
	root := tree(t)
	s := serve(t, server, []Export{{Path: "/flarecast/diskless", Dir: root}}, 0)

	// nfs-ls prints the nine permission bits only; the three above them are read below
	// with a second client.
	bin := listing(t, client, url(s, "/flarecast/diskless", "/usr/bin"))
	if bin["su"] != "-rwxr-xr-x" || bin["real"] != "-rwxr-xr-x" {
		t.Errorf("usr/bin: %v", bin)
	}
	etc := listing(t, client, url(s, "/flarecast/diskless", "/etc"))
	if !strings.HasPrefix(etc["editor"], "l") {
		t.Errorf("etc/editor is %q, want a symbolic link", etc["editor"])
	}
	for file, want := range map[string]string{"/etc/hostname": "diskless\n", "/etc/hostname.link": "diskless\n", "/usr/bin/su": "#!/bin/sh\necho su\n"} {
		if out, err := client.Output("nfs-cat", url(s, "/flarecast/diskless", file)); err != nil || out != want {
			t.Errorf("nfs-cat %s: %q (%v), want %q", file, out, err, want)
		}
	}
	// An unknown export is refused, and nothing is written through the server.
	if out, err := client.Output("nfs-ls", url(s, "/flarecast/other", "/")); err == nil {
		t.Errorf("an unknown export was listed:\n%s", out)
	}
	src := filepath.Join(t.TempDir(), "x")
	os.WriteFile(src, []byte("x"), 0o644)
	if out, err := client.Output("nfs-cp", src, url(s, "/flarecast/diskless", "/etc/x")); err == nil {
		t.Errorf("nfs-cp wrote into a read-only export:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(root, "etc/x")); err == nil {
		t.Error("a file appeared in the exported tree")
	}
}

// The setuid, setgid and sticky bits reach a client: go-nfs-client (another NFSv3
// implementation) reads each file's attributes from the wire.
func TestSpecialModeBitsReachTheClient(t *testing.T) {
	server, client := lab(t)
	s := serve(t, server, []Export{{Path: "/flarecast/diskless", Dir: tree(t)}}, 0)
	var c *rpc.Client
	if err := client.InNetns(func() (err error) {
		c, err = rpc.DialTCP("tcp", fmt.Sprintf("198.18.60.1:%d", s.port), false)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m := &nfsc.Mount{Client: c}
	target, err := m.Mount("/flarecast/diskless", rpc.AuthNull)
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]uint32{"usr/bin/su": 0o4755, "tmp": 0o1777, "var/mail": 0o2775, "etc/hostname": 0o644} {
		fi, _, err := target.Lookup(p)
		if err != nil {
			t.Fatalf("lookup %s: %v", p, err)
		}
		if got := fi.(*nfsc.Fattr).FileMode & 0o7777; got != want {
			t.Errorf("%s: mode %o on the wire, want %o", p, got, want)
		}
	}
}

// A handle is the export id and the inode, looked up in the tree's index: a server that
// restarts resolves the handles the first one gave.
func TestHandlesSurviveARestart(t *testing.T) {
	root := tree(t)
	exports := []Export{{Path: "/flarecast/diskless", Dir: root}}
	a, err := New(exports)
	if err != nil {
		t.Fatal(err)
	}
	ha := &handler{a}
	fh := ha.ToHandle(a.byPath["/flarecast/diskless"].fs, []string{"usr", "bin", "su"})
	b, err := New(exports) // the restarted server
	if err != nil {
		t.Fatal(err)
	}
	hb := &handler{b}
	fs, p, err := hb.FromHandle(fh)
	if err != nil || strings.Join(p, "/") != "usr/bin/su" || fs != b.byPath["/flarecast/diskless"].fs {
		t.Fatalf("handle %x after a restart: %v %v", fh, p, err)
	}
	fi, err := fs.Lstat("usr/bin/su")
	if err != nil || fi.Mode()&0o4000 == 0 {
		t.Fatalf("lstat through the export: %v %v", fi, err)
	}
	// A handle of another export or of a file not in the tree is stale, not a panic.
	bad := append([]byte(nil), fh...)
	bad[0] ^= 0xff
	if _, _, err := hb.FromHandle(bad); err == nil {
		t.Error("a handle of another export resolved")
	}
	if _, _, err := hb.FromHandle(fh[:8]); err == nil {
		t.Error("a short handle resolved")
	}
	var st syscall.Stat_t
	syscall.Lstat(filepath.Join(root, "usr/bin/su"), &st)
	if got := len(b.byPath["/flarecast/diskless"].paths); got != b.Files() || got < 10 {
		t.Errorf("index holds %d files", got)
	}
}

// The node keeps reading across a restart of the server: the same handles on a new process.
func TestAClientKeepsReadingAcrossARestart(t *testing.T) {
	server, client := lab(t)
	root := tree(t)
	exports := []Export{{Path: "/flarecast/diskless", Dir: root}}
	s := serve(t, server, exports, 0)
	port := s.port
	if out, err := client.Output("nfs-cat", url(s, "/flarecast/diskless", "/etc/hostname")); err != nil || out != "diskless\n" {
		t.Fatalf("before the restart: %q %v", out, err)
	}
	s.stop()
	s = serve(t, server, exports, port)
	if out, err := client.Output("nfs-cat", url(s, "/flarecast/diskless", "/usr/bin/su")); err != nil || out != "#!/bin/sh\necho su\n" {
		t.Fatalf("after the restart: %q %v", out, err)
	}
}

func TestExportsThatCannotBeServedAreRefused(t *testing.T) {
	root := tree(t)
	for name, exports := range map[string][]Export{
		"relative mount path": {{Path: "flarecast", Dir: root}},
		"unclean mount path":  {{Path: "/flarecast/../x", Dir: root}},
		"twice":               {{Path: "/a", Dir: root}, {Path: "/a", Dir: root}},
		"missing tree":        {{Path: "/a", Dir: filepath.Join(root, "nope")}},
		"a file":              {{Path: "/a", Dir: filepath.Join(root, "etc/hostname")}},
	} {
		if _, err := New(exports); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestVersionMakesOldHandlesStale: the same path serving a tree of another version (another
// archive digest) does not take the handles of the first: they are stale, where inode numbers
// alone could name another file of the new tree.
func TestVersionMakesOldHandlesStale(t *testing.T) {
	root := tree(t)
	v1, err := New([]Export{{Path: "/flarecast/ns/g", Dir: root, Version: "sha256:1"}})
	if err != nil {
		t.Fatal(err)
	}
	v2, err := New([]Export{{Path: "/flarecast/ns/g", Dir: root, Version: "sha256:2"}})
	if err != nil {
		t.Fatal(err)
	}
	again, err := New([]Export{{Path: "/flarecast/ns/g", Dir: root, Version: "sha256:1"}})
	if err != nil {
		t.Fatal(err)
	}
	h1 := &handler{v1}
	fh := h1.ToHandle(v1.byPath["/flarecast/ns/g"].fs, []string{"etc", "hostname"})
	if _, p, err := (&handler{again}).FromHandle(fh); err != nil || strings.Join(p, "/") != "etc/hostname" {
		t.Fatalf("the same version after a restart: %v %v, want etc/hostname", p, err)
	}
	if _, _, err := (&handler{v2}).FromHandle(fh); err == nil {
		t.Fatal("a handle of version 1 resolves in version 2")
	}
}

// TestServeClosesItsConnections: once Serve ends, a client connected to it sees the end at
// once (and reconnects to the next server) instead of waiting on a connection no one answers.
func TestServeClosesItsConnections(t *testing.T) {
	s, err := New([]Export{{Path: "/x", Dir: tree(t)}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A write the server reads before the cancel makes sure the connection was accepted.
	c.Write([]byte{0x80, 0, 0, 0})
	time.Sleep(100 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = c.Read(make([]byte, 1))
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the connection is still open after Serve ended")
	}
}
