package installserver_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/envtest"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/internal/testsupport/logbuf"
	"github.com/flarecast/flarecast/internal/testsupport/netlab"
)

// The tests here run the real `flarecast installserver` (this test binary, as the CLI) against
// the suite's API server, on a veth whose other end is on a bridge in a network namespace the
// test creates, and clients no one here wrote in namespaces of their own on that bridge:
// busybox udhcpc, curl and tftp-hpa. Every address is in 198.18.0.0/15; everything made is
// removed when the test ends, passed or failed.

// needPeers skips a test that cannot run here, unless FLARECAST_REQUIRE_PEERS is set.
func needPeers(t *testing.T, tools ...string) {
	t.Helper()
	netlab.RequirePeers(t, append(tools, "/usr/lib/ipxe/undionly.kpxe")...)
}

// lan is a bridge in a namespace of its own, the install server's interface (a veth in this
// namespace, with the server's address) and client namespaces plugged into it.
type lan struct {
	t      *testing.T
	ns     *netlab.Netns // holds the bridge
	iface  string        // the server's end, in this namespace
	server string        // the server's address
}

func newLAN(t *testing.T) *lan {
	t.Helper()
	id := os.Getpid() % 100000
	l := &lan{t: t, iface: fmt.Sprintf("fcis%d", id), server: fmt.Sprintf("198.18.250.%d", 10+id%200)}
	l.ns = netlab.NewNetns(t, "is-lan")
	t.Cleanup(func() { exec.Command("ip", "link", "del", l.iface).Run() })
	l.ns.IP("link", "add", "br0", "type", "bridge")
	l.ns.IP("link", "set", "br0", "up")
	netlab.Run(t, "ip", "link", "add", l.iface, "type", "veth", "peer", "name", "srv", "netns", l.ns.Name)
	l.ns.IP("link", "set", "srv", "master", "br0", "up")
	// A host address and a host route to each client, no subnet route: nothing else of this
	// machine's routing changes.
	netlab.Run(t, "ip", "addr", "add", l.server+"/32", "dev", l.iface)
	netlab.Run(t, "ip", "link", "set", l.iface, "up")
	return l
}

// client plugs a namespace with eth0 of that MAC into the bridge; route is the address the
// server will reach it at (its lease), given a host route.
func (l *lan) client(role, mac, route string) *netlab.Netns {
	t := l.t
	t.Helper()
	ns := netlab.NewNetns(t, "is-"+role)
	l.ns.IP("link", "add", role, "type", "veth", "peer", "name", "eth0", "netns", ns.Name, "address", mac)
	l.ns.IP("link", "set", role, "master", "br0", "up")
	ns.IP("link", "set", "eth0", "up")
	if route != "" {
		netlab.Run(t, "ip", "route", "add", route+"/32", "dev", l.iface)
	}
	return ns
}

// startCLI runs `flarecast installserver` with these flags until the test ends (SIGTERM).
func startCLI(t *testing.T, args ...string) *logbuf.Buffer {
	t.Helper()
	out, stop := startStoppableCLI(t, args...)
	t.Cleanup(func() { stop(syscall.SIGTERM) })
	return out
}

// startStoppableCLI is startCLI with the stop in the caller's hands (a restart in the middle
// of a test): stop(SIGTERM) waits for a clean end, stop(SIGKILL) kills. Stopping twice is
// harmless; the test's end stops it if the caller has not.
func startStoppableCLI(t *testing.T, args ...string) (*logbuf.Buffer, func(syscall.Signal)) {
	t.Helper()
	u, err := testEnv.AddUser(envtest.User{Name: "installserver", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := u.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], append([]string{"installserver", "--kubeconfig", kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(), asCLI+"=1")
	out := &logbuf.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var once sync.Once
	stop := func(sig syscall.Signal) {
		once.Do(func() {
			cmd.Process.Signal(sig)
			select {
			case err := <-done:
				if err != nil && sig != syscall.SIGKILL {
					t.Errorf("flarecast installserver ended with %v", err)
				}
			case <-time.After(15 * time.Second):
				cmd.Process.Kill()
				<-done
				t.Error("flarecast installserver did not stop on SIGTERM")
			}
			if t.Failed() {
				t.Logf("flarecast installserver output:\n%s", out)
			}
		})
	}
	t.Cleanup(func() { stop(syscall.SIGTERM) })
	return out, stop
}

// udhcpcHook applies the lease (so that curl runs from the node's address) and records it.
func udhcpcHook(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "hook.sh")
	script := `#!/bin/sh
if [ "$1" = bound ]; then
  ip addr flush dev "$interface"
  ip addr add "$ip/$subnet" dev "$interface"
  env > "` + dir + `/bound.env.tmp" && mv "` + dir + `/bound.env.tmp" "` + dir + `/bound.env"
fi
exit 0
`
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestInstallServerCommandServesTheSampleSite: the real command serves the sample site from the
// API server: udhcpc with m1's MAC gets m1's address, host name and boot file (BIOS, UEFI,
// iPXE), a stranger's MAC gets nothing; tftp-hpa fetches undionly.kpxe; curl gets m1's script,
// its kernel, and its plan with m1's token (401, 403, 404 otherwise), and an event it posts
// shows in the NodesGroup's status.
func TestInstallServerCommandServesTheSampleSite(t *testing.T) {
	needAPI(t)
	needPeers(t, "udhcpc", "curl", "tftp")
	// The sample's m1 address gets a host route: the demo routes it too.
	netlab.HoldLock(t, netlab.SampleSiteLock)
	ns := newNamespace(t)
	applySamples(t, ns)
	d := makeDeployable(t, ns, "m1")
	d.publish(t, ns)

	l := newLAN(t)
	m1ns := l.client("m1", "52:54:00:fc:00:10", "198.18.7.1")
	strangerNS := l.client("x", "52:54:00:ee:ee:01", "")

	dir := t.TempDir()
	kernel, initramfs, secretFile := filepath.Join(dir, "vmlinuz-test"), filepath.Join(dir, "initrd-test"), filepath.Join(dir, "secret")
	for f, b := range map[string][]byte{kernel: bytes.Repeat([]byte("kernel "), 4096), initramfs: []byte("070701 an initramfs"), secretFile: testSecret} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out := startCLI(t, "--namespace", ns, "--site", "edge-dc", "--interface", l.iface, // its one address is the server's
		"--repo", d.repo, "--boot-dir", "/usr/lib/ipxe", "--kernel", kernel, "--initramfs", initramfs,
		"--state-dir", filepath.Join(dir, "state"), "--secret-file", secretFile, "--log-development", "--v", "1")
	base := "http://" + l.server + ":8080"
	eventually(t, 60*time.Second, "the install server to serve m1's script", func() bool {
		return exec.Command("curl", "-sf", "-o", "/dev/null", base+"/ipxe/m1").Run() == nil
	})

	udir := filepath.Join(dir, "udhcpc")
	os.MkdirAll(udir, 0o755)
	udhcpc := func(extra ...string) map[string]string {
		t.Helper()
		os.Remove(filepath.Join(udir, "bound.env"))
		args := append([]string{"udhcpc", "-f", "-q", "-n", "-i", "eth0", "-s", udhcpcHook(t, udir), "-t", "4", "-T", "1", "-A", "1"}, extra...)
		if b, err := m1ns.Command(args...).CombinedOutput(); err != nil {
			t.Fatalf("udhcpc %v got no lease: %v\n%s", extra, err, b)
		}
		return netlab.ReadEnv(filepath.Join(udir, "bound.env"))
	}
	env := udhcpc()
	for k, want := range map[string]string{"ip": "198.18.7.1", "subnet": "255.255.0.0", "hostname": "m1", "boot_file": "undionly.kpxe",
		"siaddr": l.server, "serverid": l.server} {
		if env[k] != want {
			t.Errorf("udhcpc: %s=%q, want %q (lease %v)", k, env[k], want, env)
		}
	}
	// The lease is in m1's status: its address, and Booting, since nothing else is known of it.
	eventually(t, 30*time.Second, "m1's lease in the status", func() bool {
		n, _ := groupNode(t, ns, "masters", "m1")
		return n.Phase == fcv1.NodeBooting && n.Address == "198.18.7.1" && n.Message == "leased 198.18.7.1 by DHCP"
	})
	// x86_64 UEFI PXE (option 93 = 7) gets ipxe.efi; iPXE (user class) its script at once.
	if env := udhcpc("-x", "0x5d:0007", "-V", "PXEClient:Arch:00007:UNDI:003016"); env["boot_file"] != "ipxe.efi" {
		t.Errorf("UEFI client got boot file %q", env["boot_file"])
	}
	if env := udhcpc("-x", "0x4d:69505845"); env["boot_file"] != base+"/ipxe/m1" {
		t.Errorf("iPXE client got boot file %q", env["boot_file"])
	}
	if b, err := strangerNS.Command("udhcpc", "-f", "-q", "-n", "-i", "eth0", "-s", "/bin/true", "-t", "2", "-T", "1").CombinedOutput(); err == nil {
		t.Fatalf("a stranger's MAC got a lease:\n%s", b)
	}
	if !strings.Contains(out.String(), "52:54:00:ee:ee:01") {
		t.Error("the stranger's silence is not in the install server's log")
	}

	// TFTP: the BIOS boot loader, as Debian ships it.
	tdir := t.TempDir()
	get := m1ns.Command("tftp", "-m", "binary", l.server, "-c", "get", "undionly.kpxe")
	get.Dir = tdir
	if b, err := get.CombinedOutput(); err != nil {
		t.Fatalf("tftp get undionly.kpxe: %v\n%s", err, b)
	}
	want, _ := os.ReadFile("/usr/lib/ipxe/undionly.kpxe")
	if got, _ := os.ReadFile(filepath.Join(tdir, "undionly.kpxe")); !bytes.Equal(got, want) {
		t.Fatalf("tftp fetched %d bytes, not Debian's undionly.kpxe (%d)", len(got), len(want))
	}

	// HTTP from the node's address: its script, its kernel, its plan.
	curl := func(args ...string) (string, string) {
		t.Helper()
		b, err := m1ns.Command(append([]string{"curl", "-s", "-w", "\n%{http_code}"}, args...)...).Output()
		if err != nil {
			t.Fatalf("curl %v: %v", args, err)
		}
		s := string(b)
		i := strings.LastIndexByte(s, '\n')
		return s[:i], s[i+1:]
	}
	script, code := curl(base + "/ipxe/m1")
	if code != "200" || !strings.Contains(script, "kernel "+base+"/boot/vmlinuz initrd=initramfs.img") ||
		!strings.Contains(script, "flarecast.token="+token(ns, "m1")) || !strings.Contains(script, "flarecast.namespace="+ns) {
		t.Fatalf("m1's script: %s\n%s", code, script)
	}
	if body, code := curl(base + "/boot/vmlinuz"); code != "200" || body != strings.Repeat("kernel ", 4096) {
		t.Fatalf("kernel: %s, %d bytes", code, len(body))
	}
	api := base + "/agent/v1/nodes/" + ns + "/edge/"
	if body, code := curl("-H", "Authorization: Bearer "+token(ns, "m1"), api+"m1/plan"); code != "200" || !strings.Contains(body, d.digest) {
		t.Fatalf("m1's plan: %s %s", code, body)
	}
	for _, c := range [][3]string{{"", "m1", "401"}, {token(ns, "m2"), "m1", "403"}, {token(ns, "ghost"), "ghost", "404"}} {
		args := []string{api + c[1] + "/plan"}
		if c[0] != "" {
			args = append([]string{"-H", "Authorization: Bearer " + c[0]}, args...)
		}
		if body, code := curl(args...); code != c[2] {
			t.Errorf("plan of %s with token %.6s…: %s %s, want %s", c[1], c[0], code, body, c[2])
		}
	}
	if body, code := curl("-X", "POST", "-H", "Authorization: Bearer "+token(ns, "m1"), "-d", `{"phase":"Installing","step":"disks","percent":3}`, api+"m1/events"); code != "204" {
		t.Fatalf("event: %s %s", code, body)
	}
	eventually(t, 30*time.Second, "m1's report in the status", func() bool {
		n, _ := groupNode(t, ns, "masters", "m1")
		return n.Phase == fcv1.NodeInstalling && n.Address == "198.18.7.1" && n.Percent == 3
	})
	if strings.Contains(out.String(), token(ns, "m1")) || strings.Contains(out.String(), string(testSecret)) {
		t.Error("the install server's log holds a token or the secret")
	}
}
