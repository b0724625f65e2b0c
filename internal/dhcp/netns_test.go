package dhcp

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/flarecast/flarecast/internal/testsupport/netlab"
)

// These tests run real DHCP clients and a real relay that no one here wrote, in network
// namespaces each test creates and removes. Every address is from 198.18.0.0/15.

// needPeers skips the test when it cannot run here (not root, or a tool missing), unless
// FLARECAST_REQUIRE_PEERS is set, which makes that a failure.
func needPeers(t *testing.T, tools ...string) { t.Helper(); netlab.RequirePeers(t, tools...) }

// netns is a namespace of the test (internal/testsupport/netlab), removed with every process
// in it when the test ends, passed or failed.
type netns struct {
	*netlab.Netns
	t    *testing.T
	name string
}

func newNetns(t *testing.T, role string) *netns {
	t.Helper()
	n := netlab.NewNetns(t, "dhcp-"+role)
	return &netns{Netns: n, t: t, name: n.Name}
}

func sh(t *testing.T, args ...string) string { t.Helper(); return netlab.Run(t, args...) }

func (n *netns) ip(args ...string) string { n.t.Helper(); return n.IP(args...) }

// command is a process inside the namespace.
func (n *netns) command(args ...string) *exec.Cmd { return n.Command(args...) }

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

// link connects a and b with a veth pair, aName in a and bName in b (with bMAC, when given).
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
	if err := ns.InNetns(s.Listen); err != nil {
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
