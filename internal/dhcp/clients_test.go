package dhcp

import (
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"

	"github.com/flarecast/flarecast/internal/testsupport/logbuf"
	"github.com/flarecast/flarecast/internal/testsupport/netlab"
)

// clientNode is a node as the real-client tests serve it.
func clientNode(name string, mac net.HardwareAddr, addr, router string) Node {
	n := Node{
		Name: name, Address: netip.MustParsePrefix(addr), Hostname: name, Domain: "site.test",
		Routers: []netip.Addr{netip.MustParseAddr(router)}, DNS: []netip.Addr{netip.MustParseAddr("198.18.0.53")},
		LeaseTime: 10 * time.Minute, Boot: testBoot(),
	}
	if mac != nil {
		n.MACs = []net.HardwareAddr{mac}
	}
	return n
}

func serverFor(t *testing.T, cfg Config, tab *Table) (*Server, *logbuf.Buffer) {
	t.Helper()
	logs := &logbuf.Buffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := New(cfg, tab)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", logs)
		}
	})
	return s, logs
}

func wantEnv(t *testing.T, env map[string]string, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
}

// TestRealClientsGetTheModelsLease: busybox udhcpc and ISC dhclient, each in its own
// namespace on the server's bridge, get the address, host name and boot file of their node; a
// stranger's MAC gets nothing; after a restart from the lease file both get their address again;
// a table swapped in while the server runs is in force for the next exchange.
func TestRealClientsGetTheModelsLease(t *testing.T) {
	needPeers(t, "udhcpc", "dhclient")
	srv := newNetns(t, "srv")
	srv.ip("link", "add", "br0", "type", "bridge")
	srv.ip("addr", "add", "198.18.0.1/24", "dev", "br0")
	srv.ip("link", "set", "br0", "up")
	clients := map[string]*netns{}
	for role, mac := range map[string]string{"udhcpc": macA.String(), "dhclient": macB.String(), "stranger": stranger.String()} {
		ns := newNetns(t, role)
		port := "to-" + role
		link(t, srv, port, ns, "eth0", mac)
		srv.ip("link", "set", port, "master", "br0")
		clients[role] = ns
	}
	tab := &Table{Nodes: []Node{
		clientNode("node-a", macA, "198.18.0.10/24", "198.18.0.1"),
		clientNode("node-b", macB, "198.18.0.11/24", "198.18.0.1"),
	}}
	leaseFile := filepath.Join(t.TempDir(), "leases.json")
	cfg := Config{Interface: "br0", ServerAddr: netip.MustParseAddr("198.18.0.1"), LeaseFile: leaseFile}
	s, logs := serverFor(t, cfg, tab)
	stop := runServer(t, srv, s)

	udir, ddir := t.TempDir(), t.TempDir()
	udhcpc := func(extra ...string) error {
		args := append([]string{"udhcpc", "-f", "-q", "-n", "-i", "eth0", "-s", clientScript(t, udir), "-t", "4", "-T", "1", "-A", "1"}, extra...)
		out, err := clients["udhcpc"].command(args...).CombinedOutput()
		if err != nil {
			t.Logf("udhcpc: %s", out)
		}
		return err
	}
	if err := udhcpc(); err != nil {
		t.Fatalf("udhcpc got no lease: %v", err)
	}
	wantEnv(t, netlab.ReadEnv(filepath.Join(udir, "bound.env")), map[string]string{
		"ip": "198.18.0.10", "subnet": "255.255.255.0", "router": "198.18.0.1", "dns": "198.18.0.53",
		"hostname": "node-a", "domain": "site.test", "boot_file": "undionly.kpxe", "siaddr": "198.18.0.1",
		"serverid": "198.18.0.1", "lease": "600",
	})

	conf := filepath.Join(ddir, "dhclient.conf")
	if err := os.WriteFile(conf, []byte("request subnet-mask, broadcast-address, routers, domain-name, domain-name-servers, host-name;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dhclient := func() *proc {
		t.Helper()
		// -d keeps it in the foreground, so the test owns the process; -1 tries once.
		return clients["dhclient"].start("dhclient", "dhclient", "-4", "-d", "-1", "-v", "-cf", conf,
			"-lf", filepath.Join(ddir, "leases"), "-pf", filepath.Join(ddir, "pid"), "-sf", clientScript(t, ddir), "eth0")
	}
	first := dhclient()
	eventually(t, 20*time.Second, "dhclient BOUND", func() bool { return netlab.ReadEnv(filepath.Join(ddir, "BOUND.env")) != nil })
	wantEnv(t, netlab.ReadEnv(filepath.Join(ddir, "BOUND.env")), map[string]string{
		"new_ip_address": "198.18.0.11", "new_subnet_mask": "255.255.255.0", "new_routers": "198.18.0.1",
		"new_host_name": "node-b", "new_domain_name": "site.test", "new_filename": "undionly.kpxe",
		"new_dhcp_server_identifier": "198.18.0.1",
	})

	out, err := clients["stranger"].command("udhcpc", "-f", "-q", "-n", "-i", "eth0", "-s", "/bin/true", "-t", "2", "-T", "1").CombinedOutput()
	if err == nil {
		t.Fatalf("a stranger got a lease:\n%s", out)
	}
	if !strings.Contains(logs.String(), "no answer: unknown client") || !strings.Contains(logs.String(), stranger.String()) {
		t.Fatal("the stranger's silence is not in the debug log")
	}

	// Restart: a new server from the same lease file.
	first.stop()
	stop()
	if l := leasesIn(t, leaseFile); !strings.Contains(l, "198.18.0.10") || !strings.Contains(l, "198.18.0.11") {
		t.Fatalf("lease file after stop:\n%s", l)
	}
	s2, _ := serverFor(t, cfg, tab)
	if got := len(s2.Leases()); got != 2 {
		t.Fatalf("restarted server holds %d leases", got)
	}
	runServer(t, srv, s2)
	os.Remove(filepath.Join(udir, "bound.env"))
	if err := udhcpc("-r", "198.18.0.10"); err != nil {
		t.Fatalf("udhcpc after restart: %v", err)
	}
	wantEnv(t, netlab.ReadEnv(filepath.Join(udir, "bound.env")), map[string]string{"ip": "198.18.0.10"})
	// dhclient starts again from its lease file: INIT-REBOOT, a REQUEST for the address it had.
	dhclient()
	eventually(t, 20*time.Second, "dhclient REBOOT", func() bool { return netlab.ReadEnv(filepath.Join(ddir, "REBOOT.env")) != nil })
	wantEnv(t, netlab.ReadEnv(filepath.Join(ddir, "REBOOT.env")), map[string]string{"new_ip_address": "198.18.0.11"})

	// The model changes while the server runs: the next exchange sees the new table, on the
	// same socket. udhcpc asks for its old address and is offered the new one.
	moved := &Table{Nodes: []Node{
		clientNode("node-a", macA, "198.18.0.12/24", "198.18.0.1"),
		clientNode("node-b", macB, "198.18.0.11/24", "198.18.0.1"),
	}}
	if err := s2.SetTable(moved); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(udir, "bound.env"))
	if err := udhcpc("-r", "198.18.0.10"); err != nil {
		t.Fatalf("udhcpc after the table changed: %v", err)
	}
	wantEnv(t, netlab.ReadEnv(filepath.Join(udir, "bound.env")), map[string]string{"ip": "198.18.0.12", "hostname": "node-a"})
}

func leasesIn(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestRelayedClientsLeaseFollowsTheSwitchPort: ISC dhcrelay with -a puts the name of the
// interface a request came in on into option 82's circuit-id, so each of its interfaces is a
// switch port. A machine that the table knows by no MAC gets the lease of the node cabled to
// its port, and the server learns its MAC; that binding survives a restart (a renewal that
// comes straight to the server, without the relay, is answered); the same machine recabled to
// another port gets that port's node's lease.
func TestRelayedClientsLeaseFollowsTheSwitchPort(t *testing.T) {
	needPeers(t, "udhcpc", "dhcrelay")
	srv, rly := newNetns(t, "srv"), newNetns(t, "rly")
	port7, port8 := newNetns(t, "port7"), newNetns(t, "port8")
	link(t, srv, "s0", rly, "r0", "")
	srv.ip("addr", "add", "198.18.1.1/24", "dev", "s0")
	srv.ip("route", "add", "198.18.2.0/23", "via", "198.18.1.2")
	rly.ip("addr", "add", "198.18.1.2/24", "dev", "r0")
	sh(t, "ip", "netns", "exec", rly.name, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
	// The same machine (one MAC) in two places: behind port p7 and, later, behind p8.
	link(t, rly, "p7", port7, "eth0", macCabled.String())
	link(t, rly, "p8", port8, "eth0", macCabled.String())
	rly.ip("addr", "add", "198.18.2.1/24", "dev", "p7")
	rly.ip("addr", "add", "198.18.3.1/24", "dev", "p8")

	tab := &Table{
		Nodes: []Node{
			func() Node {
				n := clientNode("node-c", nil, "198.18.2.20/24", "198.18.2.1")
				n.LeaseTime = 12 * time.Second
				return n
			}(),
			clientNode("node-d", nil, "198.18.3.20/24", "198.18.3.1"),
		},
		Ports: []Port{{CircuitID: "p7", Node: "node-c"}, {CircuitID: "p8", Node: "node-d"}},
	}
	obs := &recorder{}
	cfg := Config{Interface: "s0", ServerAddr: netip.MustParseAddr("198.18.1.1"), LeaseFile: filepath.Join(t.TempDir(), "leases.json"), Observer: obs}
	s, _ := serverFor(t, cfg, tab)
	stop := runServer(t, srv, s)
	relay := rly.start("dhcrelay", "dhcrelay", "-4", "-d", "--no-pid", "-a", "-iu", "r0", "-id", "p7", "-id", "p8", "198.18.1.1")

	// ISC dhclient behind port 7. Its lease is short so that it renews (at half the lease,
	// 6 s, retrying by unicast until 10.5 s) during the test, with room for a slow restart; it sends renewals from a UDP socket and reads answers from a packet
	// socket, so it never misses an ACK that comes back fast.
	dir7 := t.TempDir()
	conf := filepath.Join(dir7, "dhclient.conf")
	if err := os.WriteFile(conf, []byte("request subnet-mask, routers, domain-name, host-name;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	port7.start("dhclient on port 7", "dhclient", "-4", "-d", "-1", "-v", "-cf", conf, "-lf", filepath.Join(dir7, "leases"),
		"-pf", filepath.Join(dir7, "pid"), "-sf", clientScript(t, dir7), "eth0")
	eventually(t, 20*time.Second, "a lease behind port 7", func() bool { return netlab.ReadEnv(filepath.Join(dir7, "BOUND.env")) != nil })
	wantEnv(t, netlab.ReadEnv(filepath.Join(dir7, "BOUND.env")), map[string]string{
		"new_ip_address": "198.18.2.20", "new_host_name": "node-c", "new_routers": "198.18.2.1", "new_filename": "undionly.kpxe",
		"new_dhcp_server_identifier": "198.18.1.1",
	})
	obs.mu.Lock()
	heard := append([]Binding(nil), obs.bindings...)
	obs.mu.Unlock()
	if len(heard) != 1 || heard[0].Node != "node-c" || heard[0].CircuitID != "p7" || heard[0].MAC.String() != macCabled.String() {
		t.Fatalf("observer heard %v", heard)
	}

	// Without the relay, and after a restart, the renewal reaches the server by unicast with
	// no option 82: only the saved binding tells it which node this MAC is.
	relay.stop()
	stop()
	s2, _ := serverFor(t, cfg, tab)
	runServer(t, srv, s2)
	eventually(t, 20*time.Second, "a unicast renewal after the restart", func() bool { return netlab.ReadEnv(filepath.Join(dir7, "RENEW.env")) != nil })
	wantEnv(t, netlab.ReadEnv(filepath.Join(dir7, "RENEW.env")), map[string]string{"new_ip_address": "198.18.2.20", "new_host_name": "node-c"})

	// Recabled to port 8: the lease follows the port.
	rly.start("dhcrelay again", "dhcrelay", "-4", "-d", "--no-pid", "-a", "-iu", "r0", "-id", "p7", "-id", "p8", "198.18.1.1")
	dir8 := t.TempDir()
	eventually(t, 20*time.Second, "a lease behind port 8", func() bool {
		port8.command("udhcpc", "-f", "-q", "-n", "-i", "eth0", "-s", clientScript(t, dir8), "-t", "3", "-T", "1").Run()
		return netlab.ReadEnv(filepath.Join(dir8, "bound.env")) != nil
	})
	wantEnv(t, netlab.ReadEnv(filepath.Join(dir8, "bound.env")), map[string]string{"ip": "198.18.3.20", "hostname": "node-d", "router": "198.18.3.1"})
	bs := s2.Bindings()
	if len(bs) != 1 || bs[0].Node != "node-d" || bs[0].CircuitID != "p8" {
		t.Fatalf("bindings after recabling: %v", bs)
	}
}

// TestProxyAnswersOnBothPorts: in proxy mode the server listens on 67 and 4011, and the 4011
// answer goes back to the port the PXE client asked from.
func TestProxyAnswersOnBothPorts(t *testing.T) {
	needPeers(t)
	srv, cli := newNetns(t, "srv"), newNetns(t, "pxe")
	link(t, srv, "s0", cli, "eth0", macA.String())
	srv.ip("addr", "add", "198.18.5.1/24", "dev", "s0")
	cli.ip("addr", "add", "198.18.5.77/24", "dev", "eth0")
	tab := &Table{Nodes: []Node{clientNode("node-a", macA, "198.18.5.10/24", "198.18.5.1")}}
	s, _ := serverFor(t, Config{Interface: "s0", ServerAddr: netip.MustParseAddr("198.18.5.1"), Mode: ModeProxy}, tab)
	runServer(t, srv, s)

	var conn *net.UDPConn
	if err := cli.InNetns(func() (err error) {
		conn, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP("198.18.5.77"), Port: 0})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := packet(t, dhcpv4.MessageTypeRequest, macA, dhcpv4.WithClientIP(net.ParseIP("198.18.5.77")),
		dhcpv4.WithOption(dhcpv4.OptClientArch(iana.INTEL_X86PC)), dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00000:UNDI:002001")))
	if _, err := conn.WriteToUDP(req.ToBytes(), &net.UDPAddr{IP: net.ParseIP("198.18.5.1"), Port: PXEPort}); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1500)
	n, _, err := conn.ReadFromUDP(buf)
	if err != nil {
		t.Fatalf("no answer on 4011: %v", err)
	}
	ack, err := dhcpv4.FromBytes(buf[:n])
	if err != nil || ack.MessageType() != dhcpv4.MessageTypeAck || ack.BootFileName != "undionly.kpxe" || !ack.YourIPAddr.IsUnspecified() {
		t.Fatalf("answer %v, %v", ack, err)
	}
}
