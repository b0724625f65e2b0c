package tftp

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/flarecast/flarecast/internal/testsupport/logbuf"
	"github.com/flarecast/flarecast/internal/testsupport/netlab"
)

// ipxeDir is where Debian's ipxe package puts the boot loaders this server exists for.
const ipxeDir = "/usr/lib/ipxe"

var ipxeFiles = []string{"undionly.kpxe", "ipxe.efi", "snponly.efi"}

// requirePeers is netlab's rule for a test's peers (with root, for network namespaces, when
// root is set), Debian's iPXE binaries among them: the files this server exists for.
func requirePeers(t testing.TB, root bool, tools ...string) {
	t.Helper()
	tools = append(tools, filepath.Join(ipxeDir, ipxeFiles[0]))
	if root {
		netlab.RequirePeers(t, tools...)
		return
	}
	netlab.RequireTools(t, tools...)
}

// startServer serves dir on addr (host:port, port 0 for any) until the test ends. A test
// waits for a log line (logs.WaitFor): the library logs a finished transfer after the client
// has its last block.
func startServer(t testing.TB, o Options, addr string) (string, *logbuf.Buffer) {
	t.Helper()
	logs := &logbuf.Buffer{}
	o.Log = logs.Logger()
	if o.Timeout == 0 {
		o.Timeout = time.Second
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, conn) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return conn.LocalAddr().String(), logs
}

// netns is a network namespace joined to the test's namespace by a veth pair: the server
// listens on HostIP, clients run inside the namespace and reach it over the veth, as a node
// reaches its install server over the provisioning network.
type netns struct {
	*netlab.Netns
	HostIP string
	NSIP   string
}

// newNetns creates a namespace and a veth pair with a /30 from 198.19.0.0/16 (inside the
// benchmark range 198.18.0.0/15 the project may use) that no interface here already has, and
// removes both when the test ends, also when it fails.
func newNetns(t testing.TB, mtu int) *netns {
	t.Helper()
	var id [3]byte
	rand.Read(id[:])
	tag := hex.EncodeToString(id[:])
	n := &netns{}
	used, _ := exec.Command("ip", "-4", "-o", "addr").Output()
	for {
		var b [2]byte
		rand.Read(b[:])
		base := int(b[1]) &^ 3
		n.HostIP = fmt.Sprintf("198.19.%d.%d", b[0], base+1)
		n.NSIP = fmt.Sprintf("198.19.%d.%d", b[0], base+2)
		if !bytes.Contains(used, []byte(fmt.Sprintf("198.19.%d.%d/", b[0], base))) &&
			!bytes.Contains(used, []byte(n.HostIP+"/")) && !bytes.Contains(used, []byte(n.NSIP+"/")) {
			break
		}
	}
	n.Netns = netlab.NewNetns(t, "tftp")
	n.LinkHost("fth"+tag, n.HostIP+"/30", "ftn"+tag, n.NSIP+"/30", mtu)
	return n
}

// exec runs a command inside the namespace, in dir, and returns its combined output.
func (n *netns) exec(t testing.TB, dir string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := n.CommandContext(ctx, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func splitHostPort(t testing.TB, addr string) (string, string) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return h, p
}

func runIn(dir string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func sendRaw(t testing.TB, addr string, p []byte) {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(p); err != nil {
		t.Fatal(err)
	}
}

// bootDir holds copies of Debian's iPXE binaries. /usr/lib/ipxe itself cannot be the boot
// directory: its ipxe.efi is a symlink to /boot/ipxe.efi, which the server rightly refuses.
func bootDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range ipxeFiles {
		b, err := os.ReadFile(filepath.Join(ipxeDir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
