// Package netlab is what tests need to run real network clients and servers against each
// other: network namespaces and veth links the test creates and removes (also when it
// fails), a way to open a Go server's sockets inside a namespace, and the rule for a peer
// tool that is missing (skip, or fail under FLARECAST_REQUIRE_PEERS, as CI sets it).
//
// Tests only: it calls testing.TB. Every address a test gives it must be from 198.18.0.0/15.
package netlab

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// RequirePeers skips the test when it cannot run here (not root, or a tool missing), unless
// FLARECAST_REQUIRE_PEERS is set, which makes that a failure. A tool given as an absolute
// path is a file that must exist (a boot loader a package installs, say).
func RequirePeers(t testing.TB, tools ...string) {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root (network namespaces)")
	}
	require(t, append(missing, missingTools(append([]string{"ip"}, tools...))...), "run as root after hack/debian-deps.sh")
}

// RequireTools is RequirePeers for a test that needs no root (clients and servers on
// loopback): only the tools.
func RequireTools(t testing.TB, tools ...string) {
	t.Helper()
	require(t, missingTools(tools), "run hack/debian-deps.sh")
}

func missingTools(tools []string) []string {
	var missing []string
	for _, tool := range tools {
		if filepath.IsAbs(tool) {
			if _, err := os.Stat(tool); err != nil {
				missing = append(missing, tool)
			}
		} else if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	return missing
}

func require(t testing.TB, missing []string, fix string) {
	t.Helper()
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("needs %s: %s", strings.Join(missing, ", "), fix)
	if os.Getenv("FLARECAST_REQUIRE_PEERS") != "" {
		t.Fatalf("%s (FLARECAST_REQUIRE_PEERS is set)", msg)
	}
	t.Skipf("%s (FLARECAST_REQUIRE_PEERS=1 makes this a failure)", msg)
}

var counter atomic.Int64

// Netns is a network namespace of a test.
type Netns struct {
	t    testing.TB
	Name string
}

// NewNetns creates a namespace with a name no other test or run uses, and removes it, with
// every process still in it, when the test ends.
func NewNetns(t testing.TB, prefix string) *Netns {
	t.Helper()
	name := fmt.Sprintf("fc-%s-%d-%d", prefix, os.Getpid(), counter.Add(1))
	if len(name) > 40 {
		t.Fatalf("namespace name %s is too long", name)
	}
	Run(t, "ip", "netns", "add", name)
	n := &Netns{t: t, Name: name}
	t.Cleanup(func() {
		if out, _ := exec.Command("ip", "netns", "pids", name).Output(); len(out) > 0 {
			for _, f := range strings.Fields(string(out)) {
				var pid int
				if _, err := fmt.Sscan(f, &pid); err == nil && pid != os.Getpid() {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("remove namespace %s: %v: %s", name, err, out)
		}
	})
	n.IP("link", "set", "lo", "up")
	return n
}

// Run runs a command, failing the test with its output if it fails.
func Run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// IP runs `ip -n NAME args...`.
func (n *Netns) IP(args ...string) string {
	n.t.Helper()
	return Run(n.t, append([]string{"ip", "-n", n.Name}, args...)...)
}

// Command is a process inside the namespace.
func (n *Netns) Command(args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.Name}, args...)...)
}

// CommandContext is Command, killed when ctx ends.
func (n *Netns) CommandContext(ctx context.Context, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.Name}, args...)...)
}

// Output runs a command in the namespace and returns its combined output and error.
func (n *Netns) Output(args ...string) (string, error) {
	var b bytes.Buffer
	c := n.Command(args...)
	c.Stdout, c.Stderr = &b, &b
	err := c.Run()
	return b.String(), err
}

// Link connects a and b with a veth pair named aName in a and bName in b, both up, with the
// addresses given (CIDR, or "" for none).
func Link(t testing.TB, a *Netns, aName, aAddr string, b *Netns, bName, bAddr string) {
	t.Helper()
	a.IP("link", "add", aName, "type", "veth", "peer", "name", bName, "netns", b.Name)
	for _, side := range []struct {
		n          *Netns
		name, addr string
	}{{a, aName, aAddr}, {b, bName, bAddr}} {
		if side.addr != "" {
			side.n.IP("addr", "add", side.addr, "dev", side.name)
		}
		side.n.IP("link", "set", side.name, "up")
	}
}

// LinkHost connects the namespace to the test's own with a veth pair: hostName here, with
// hostAddr, and nsName in n, with nsAddr (CIDR, or "" for none), both up, with that MTU (0:
// the default). It returns once the host end is up: a packet sent before is dropped, and a
// client retries. The host end goes when the test ends (and with the namespace: a veth pair
// dies with either end).
func (n *Netns) LinkHost(hostName, hostAddr, nsName, nsAddr string, mtu int) {
	n.t.Helper()
	args := []string{"ip", "link", "add", hostName}
	peer := []string{"peer", "name", nsName, "netns", n.Name}
	if mtu > 0 {
		args = append(args, "mtu", fmt.Sprint(mtu))
		peer = append(peer, "mtu", fmt.Sprint(mtu))
	}
	Run(n.t, append(append(args, "type", "veth"), peer...)...)
	n.t.Cleanup(func() { exec.Command("ip", "link", "del", hostName).Run() })
	if hostAddr != "" {
		Run(n.t, "ip", "addr", "add", hostAddr, "dev", hostName)
	}
	Run(n.t, "ip", "link", "set", hostName, "up")
	if nsAddr != "" {
		n.IP("addr", "add", nsAddr, "dev", nsName)
	}
	n.IP("link", "set", nsName, "up")
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, _ := exec.Command("ip", "-o", "link", "show", hostName).Output()
		if bytes.Contains(out, []byte("state UP")) {
			return
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("veth %s (%s in %s) did not come up: %s", hostName, nsName, n.Name, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// InNetns runs fn on a thread moved into the namespace (sockets fn opens stay there), then
// moves the thread back. If it cannot go back, the thread stays locked and ends with its
// goroutine, rather than serving other goroutines from the wrong namespace.
func (n *Netns) InNetns(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		f, err := os.Open(filepath.Join("/run/netns", n.Name))
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("enter namespace %s: %w", n.Name, err)
			return
		}
		err = fn()
		if unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// ReadEnv parses a file of NAME=value lines, as the DHCP client hooks of the tests write them
// (`env > FILE`); nil when the file is not there (yet).
func ReadEnv(path string) map[string]string {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	env := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			env[k] = strings.Trim(v, "'")
		}
	}
	return env
}

// SampleSiteLock is the lock of the host routes and addresses of the sample site
// (198.18.7.0/24's nodes, the demo's 198.18.0.1): `make demo` (hack/demo.sh) holds it while
// it is up, and each test that puts those addresses on this host holds it for its run, so
// that tests in parallel packages, or a test beside a running demo, take turns instead of
// failing on a route that another one holds.
const SampleSiteLock = "/run/lock/flarecast-sample-site.lock"

// HoldLock takes an exclusive flock on path for the rest of the test, waiting for whoever
// holds it (up to 10 minutes, then the test fails and says who to stop). It sets
// FLARECAST_SAMPLE_SITE_LOCKED in the environment, so that a script the test runs (the demo)
// knows its caller holds the lock.
func HoldLock(t testing.TB, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Minute)
	logged := false
	for unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
		if !logged {
			t.Logf("waiting for %s (a running `make demo` or another test holds the sample site's addresses)", path)
			logged = true
		}
		if time.Now().After(deadline) {
			f.Close()
			t.Fatalf("%s is still held after 10 minutes: stop what holds the sample site's addresses (`make demo-down`)", path)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Setenv("FLARECAST_SAMPLE_SITE_LOCKED", "1")
	t.Cleanup(func() { unix.Flock(int(f.Fd()), unix.LOCK_UN); f.Close() })
}
