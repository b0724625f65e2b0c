package e2e

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/flarecast/flarecast/internal/dhcp"
	"github.com/flarecast/flarecast/internal/testsupport/netlab"
)

// The lab network. Every address is from 198.18.0.0/15, on a bridge inside the namespace.
const (
	serverIP   = "198.18.0.1"
	serverCIDR = serverIP + "/24"
	nodeIP     = "198.18.0.10"
	nodeMAC    = "52:54:00:fc:00:10"
	httpPort   = "8080"
	serverURL  = "http://" + serverIP + ":" + httpPort
	bridge     = "br0"
	tap        = "tap0"
)

// requireE2E skips unless FLARECAST_E2E is set; once it is, a missing tool is a failure, so
// `make test-e2e` cannot pass by skipping.
func requireE2E(t *testing.T) {
	t.Helper()
	if os.Getenv("FLARECAST_E2E") == "" {
		t.Skip("qemu boots run with FLARECAST_E2E=1 (make test-e2e)")
	}
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root (network namespaces, tap devices)")
	}
	for _, tool := range []string{"ip", "qemu-system-x86_64", "dnsmasq", "busybox"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	for _, f := range []string{"/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd", "/usr/lib/ipxe/qemu/efi-virtio.rom"} {
		if _, err := os.Stat(f); err != nil {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("needs %s: run hack/debian-deps.sh as root", strings.Join(missing, ", "))
	}
}

// lab is one network namespace (netlab's: removed with every process in it when the test
// ends, passed or failed) with a bridge (the server's address on it) and a tap device on the
// bridge for qemu; the bridge and the tap go with the namespace.
type lab struct {
	t      *testing.T
	ns     *netlab.Netns
	dir    string
	stamps stamps
	// ackLog is a DHCP server's log that boot watches for its first ACK (dnsmasq's).
	ackLog string
	// dhcpMode is the mode startFlarecast runs flarecast's DHCP in (server unless a test
	// says proxy).
	dhcpMode dhcp.Mode
}

func newLab(t *testing.T) *lab {
	t.Helper()
	l := &lab{t: t, ns: netlab.NewNetns(t, "e2e"), dir: t.TempDir()}
	for _, args := range [][]string{
		{"link", "add", bridge, "type", "bridge", "forward_delay", "0"},
		{"addr", "add", serverCIDR, "dev", bridge},
		{"link", "set", bridge, "up"},
		{"tuntap", "add", "dev", tap, "mode", "tap"},
		{"link", "set", tap, "master", bridge},
		{"link", "set", tap, "up"},
	} {
		l.ns.IP(args...)
	}
	return l
}

// listen opens a TCP listener inside the namespace; it stays there when the thread leaves.
func (l *lab) listen(addr string) net.Listener {
	l.t.Helper()
	var ln net.Listener
	err := l.ns.InNetns(func() error {
		var err error
		ln, err = net.Listen("tcp4", addr)
		return err
	})
	if err != nil {
		l.t.Fatalf("listen on %s in %s: %v", addr, l.ns.Name, err)
	}
	l.t.Cleanup(func() { ln.Close() })
	return ln
}

// proc is a process started in the lab: its log file, and done closed once it has ended.
type proc struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// start runs a command inside the namespace, its output to a log file in the lab's
// directory; it is killed (its whole process group) when the test ends.
func (l *lab) start(name string, args ...string) *proc {
	l.t.Helper()
	logPath := filepath.Join(l.dir, name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		l.t.Fatal(err)
	}
	cmd := l.ns.Command(args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		l.t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { cmd.Wait(); logf.Close(); close(p.done) }()
	l.t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	})
	return p
}
