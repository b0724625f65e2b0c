package nfsroot

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	nfsc "github.com/willscott/go-nfs-client/nfs"
	"github.com/willscott/go-nfs-client/nfs/rpc"

	"github.com/flarecast/flarecast/internal/testsupport/fstree"
	"github.com/flarecast/flarecast/internal/testsupport/netlab"
)

// TestANodesExportKeepsItsWritesAndRefusesOtherAddresses drives a merged export with
// libnfs's nfs-cp, nfs-cat and nfs-ls, from the node's address and from another one (the
// same namespace, its route's source address switched): the node's writes go to its upper
// directory and survive a restart of the server; the tree is never written; the other
// address cannot mount the export at all.
func TestANodesExportKeepsItsWritesAndRefusesOtherAddresses(t *testing.T) {
	server, client := lab(t)
	netlab.RequirePeers(t, "nfs-cp")
	client.IP("addr", "add", "198.18.60.3/24", "dev", "eth0")
	from := func(src string) { client.IP("route", "replace", "198.18.60.1/32", "dev", "eth0", "src", src) }
	lower, dir := tree(t), t.TempDir()
	before := fstree.State(t, lower)
	exports := []Export{{Path: "/flarecast/ns/g/nodes/n1", Dir: lower, Upper: filepath.Join(dir, "upper"), Work: filepath.Join(dir, "work"),
		Clients: []netip.Addr{netip.MustParseAddr("198.18.60.2")}}}
	s := serve(t, server, exports, 0, WithHandleKey(testKey))
	port := s.port

	src := filepath.Join(t.TempDir(), "motd")
	os.WriteFile(src, []byte("written by n1\n"), 0o644)
	from("198.18.60.2")
	if out, err := client.Output("nfs-cp", src, url(s, "/flarecast/ns/g/nodes/n1", "/etc/motd")); err != nil {
		t.Fatalf("nfs-cp: %v\n%s", err, out)
	}
	// nfs-cp creates files only: a change of a file of the tree, a removal and a chmod go
	// through go-nfs-client, another NFSv3 client.
	var c *rpc.Client
	if err := client.InNetns(func() (err error) {
		c, err = rpc.DialTCP("tcp", fmt.Sprintf("198.18.60.1:%d", s.port), false)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	m := &nfsc.Mount{Client: c}
	target, err := m.Mount("/flarecast/ns/g/nodes/n1", rpc.AuthNull)
	if err != nil {
		t.Fatal(err)
	}
	f, err := target.OpenFile("etc/hostname", 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("n1-local\n")); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := target.Remove("etc/hostname.link"); err != nil {
		t.Fatal(err)
	}
	if err := target.Setattr("usr/bin/real", nfsc.Sattr3{Mode: nfsc.SetMode{SetIt: true, Mode: 0o700}}); err != nil {
		t.Fatal(err)
	}
	// ACCESS answers the bits asked on a read-write export (a handle whose size is not a
	// multiple of four made go-nfs read the padding as the mask: "Allowed access ---").
	if acc, err := target.Access("etc/motd", 0x1f); err != nil || acc != 0x1f {
		t.Errorf("ACCESS etc/motd: %x %v, want 1f", acc, err)
	}
	c.Close()
	s.stop()
	s = serve(t, server, exports, port, WithHandleKey(testKey))
	for file, want := range map[string]string{"/etc/motd": "written by n1\n", "/etc/hostname": "n1-local\n", "/usr/bin/su": "#!/bin/sh\necho su\n"} {
		if out, err := client.Output("nfs-cat", url(s, "/flarecast/ns/g/nodes/n1", file)); err != nil || out != want {
			t.Errorf("after a restart, nfs-cat %s: %q (%v), want %q", file, out, err, want)
		}
	}
	if etc := listing(t, client, url(s, "/flarecast/ns/g/nodes/n1", "/etc")); etc["motd"] == "" || etc["hostname.link"] != "" || etc["hostname"] == "" {
		t.Errorf("etc lists %v, want motd and hostname, no hostname.link", etc)
	}
	if bin := listing(t, client, url(s, "/flarecast/ns/g/nodes/n1", "/usr/bin")); bin["real"] != "-rwx------" || bin["su"] != "-rwxr-xr-x" {
		t.Errorf("usr/bin lists %v", bin)
	}
	if after := fstree.State(t, lower); after != before {
		t.Errorf("the tree changed under the node's writes")
	}
	if b, err := os.ReadFile(filepath.Join(dir, "upper", "etc", "motd")); err != nil || string(b) != "written by n1\n" {
		t.Errorf("the upper directory holds %q (%v)", b, err)
	}

	from("198.18.60.3")
	out, err := client.Output("nfs-cat", url(s, "/flarecast/ns/g/nodes/n1", "/etc/motd"))
	if err == nil {
		t.Fatalf("another address read the node's export: %q", out)
	}
	if !strings.Contains(out, "MNT3ERR_ACCES") {
		t.Errorf("another address was refused with %q, want MNT3ERR_ACCES", out)
	}
	if out, err := client.Output("nfs-cp", src, url(s, "/flarecast/ns/g/nodes/n1", "/etc/intruder")); err == nil {
		t.Errorf("another address wrote into the node's export:\n%s", out)
	}
	if _, err := os.Lstat(filepath.Join(dir, "upper", "etc", "intruder")); err == nil {
		t.Error("a file of another address reached the upper directory")
	}
}
