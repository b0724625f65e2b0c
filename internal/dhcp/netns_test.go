package dhcp

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

// These tests run real DHCP clients and a real relay that no one here wrote, in network
// namespaces each test creates and removes. Every address is from 198.18.0.0/15.

// needPeers skips the test when it cannot run here (not root, or a tool missing), unless
// FLARECAST_REQUIRE_PEERS is set, which makes that a failure.
func needPeers(t *testing.T, tools ...string) {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root (network namespaces)")
	}
	for _, tool := range append([]string{"ip"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("needs %s: run as root after hack/debian-deps.sh", strings.Join(missing, ", "))
	if os.Getenv("FLARECAST_REQUIRE_PEERS") != "" {
		t.Fatalf("%s (FLARECAST_REQUIRE_PEERS is set)", msg)
	}
	t.Skipf("%s (FLARECAST_REQUIRE_PEERS=1 makes this a failure)", msg)
}

var nsCounter atomic.Int64

type netns struct {
	t    *testing.T
	name string
}

// newNetns creates a namespace with a name no other test or run uses, and removes it, with
// every process still in it, when the test ends, passed or failed.
func newNetns(t *testing.T, role string) *netns {
	t.Helper()
	name := fmt.Sprintf("fc-dhcp-%d-%d-%s", os.Getpid(), nsCounter.Add(1), role)
	sh(t, "ip", "netns", "add", name)
	n := &netns{t: t, name: name}
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
	n.ip("link", "set", "lo", "up")
	return n
}

func sh(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (n *netns) ip(args ...string) string {
	n.t.Helper()
	return sh(n.t, append([]string{"ip", "-n", n.name}, args...)...)
}

// command is a process inside the namespace.
func (n *netns) command(args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.name}, args...)...)
}

// proc is a process the test started in a namespace.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// stop kills the process and waits until it is gone (its sockets closed).
func (p *proc) stop() {
	p.cmd.Process.Kill()
	<-p.done
}

// start runs a process in the namespace until stopped or the test ends; its output goes to the
// test log if the test fails.
func (n *netns) start(name string, args ...string) *proc {
	n.t.Helper()
	cmd := n.command(args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		n.t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(p.done) }()
	n.t.Cleanup(func() {
		p.stop()
		if n.t.Failed() {
			n.t.Logf("%s output:\n%s", name, out.String())
		}
	})
	return p
}

// link connects a and b with a veth pair, aName in a and bName in b.
func link(t *testing.T, a *netns, aName string, b *netns, bName, bMAC string) {
	t.Helper()
	args := []string{"link", "add", aName, "type", "veth", "peer", "name", bName, "netns", b.name}
	if bMAC != "" {
		args = append(args, "address", bMAC)
	}
	a.ip(args...)
	a.ip("link", "set", aName, "up")
	b.ip("link", "set", bName, "up")
}

// runServer opens the server's sockets inside ns and serves until the returned stop is called
// (or the test ends).
func runServer(t *testing.T, ns *netns, s *Server) (stop func()) {
	t.Helper()
	if err := inNetns(ns.name, s.Listen); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	var stopped bool
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}
	t.Cleanup(stop)
	return stop
}

// inNetns runs fn on a thread moved into the namespace, then moves the thread back. If it
// cannot go back, the thread stays locked and ends with its goroutine, rather than serving
// other goroutines from the wrong namespace.
func inNetns(name string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		f, err := os.Open(filepath.Join("/run/netns", name))
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("enter namespace %s: %w", name, err)
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

// eventually waits for cond, failing the test with what after the timeout.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// readEnv parses a file of NAME=value lines, as the client scripts below write them.
func readEnv(path string) map[string]string {
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

// clientScript writes a DHCP client hook (for udhcpc, which passes the event as $1, and for
// dhclient, which passes it as $reason) that applies a new lease (address and default route),
// so that a later renewal goes by unicast as in real life, and then records the event's
// environment in dir/<event>.env.
func clientScript(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "hook.sh")
	// The record is written last, so that a test that sees it knows the lease is applied.
	script := `#!/bin/sh
event="${1:-$reason}"
case "$event" in
bound)
  ip addr flush dev "$interface"
  ip addr add "$ip/$subnet" dev "$interface"
  [ -n "$router" ] && ip route replace default via "${router%% *}" dev "$interface"
  ;;
BOUND|REBOOT)
  ip addr flush dev "$interface"
  ip addr add "$new_ip_address/$new_subnet_mask" dev "$interface"
  [ -n "$new_routers" ] && ip route replace default via "${new_routers%% *}" dev "$interface"
  ;;
esac
env > "` + dir + `/$event.env.tmp" && mv "` + dir + `/$event.env.tmp" "` + dir + `/$event.env"
exit 0
`
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}
