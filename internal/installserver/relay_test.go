package installserver_test

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/internal/dhcp"
	"github.com/flarecast/flarecast/internal/installserver"
	"github.com/flarecast/flarecast/internal/testsupport/netlab"
)

// relayAgent gives every switch of the sample's Machines a relay agent template.
func relayAgent(s *sampleSite, circuit, remote func(machine string) string) {
	for _, m := range s.Machines {
		for i := range m.Spec.Shelves {
			for j := range m.Spec.Shelves[i].Switches {
				m.Spec.Shelves[i].Switches[j].RelayAgent = &fcv1.RelayAgent{CircuitID: circuit(m.Name), RemoteID: remote(m.Name)}
			}
		}
	}
}

func portsOf(site *installserver.Site, node string) []string {
	var out []string
	for _, p := range site.Table.Ports {
		if p.Node == node {
			out = append(out, p.CircuitID+"|"+p.RemoteID)
		}
	}
	return out
}

// A switch's relay agent template names its ports in option 82 as the agent does; two
// switches whose templates give one name leave the later port out, and say so, rather than
// make the DHCP server refuse the table.
func TestRelayAgentTemplatesNameTheSwitchPorts(t *testing.T) {
	s := loadSamples(t, "default")
	relayAgent(s, func(string) string { return "p{port}" }, func(m string) string { return m })
	site, err := installserver.BuildSite([]installserver.Member{s.resolve()}, testBoot, testSecret)
	if err != nil || len(site.Skipped) != 0 {
		t.Fatalf("%v %q", err, site.Skipped)
	}
	if got := strings.Join(portsOf(site, "m1"), " "); got != "edge-rack1/shelf0/sw0/1| 1|edge-rack1/shelf0/sw0 p1|edge-rack1" {
		t.Fatalf("m1's ports: %q", got)
	}
	if _, err := dhcp.New(dhcp.Config{ServerAddr: netip.MustParseAddr("198.18.0.1")}, site.Table); err != nil {
		t.Fatalf("the DHCP server refuses the table: %v", err)
	}

	// The same template on both racks and no remote-id: m1 and m2 are both on port 1.
	s = loadSamples(t, "default")
	relayAgent(s, func(string) string { return "p{port}" }, func(string) string { return "" })
	site, err = installserver.BuildSite([]installserver.Member{s.resolve()}, testBoot, testSecret)
	if err != nil {
		t.Fatal(err)
	}
	if len(site.Skipped) != 4 || !strings.Contains(strings.Join(site.Skipped, "\n"), `node m2 of Cluster edge: option 82 circuit-id "p1" remote-id "" is already the name of node m1's port`) {
		t.Fatalf("skipped: %q", site.Skipped)
	}
	if _, err := dhcp.New(dhcp.Config{ServerAddr: netip.MustParseAddr("198.18.0.1")}, site.Table); err != nil {
		t.Fatalf("the DHCP server refuses the table: %v", err)
	}
}

// ISC dhcrelay -a names each port by the interface a request came in on: with the template
// p{port}, a machine behind the relay's interface p1 that the model knows by no MAC (a
// replaced board, say) gets the lease of m1, the node the model cables to port 1.
func TestARelayedStrangerGetsTheLeaseOfTheNodeCabledToItsPort(t *testing.T) {
	netlab.RequirePeers(t, "udhcpc", "dhcrelay")
	s := loadSamples(t, "default")
	relayAgent(s, func(string) string { return "p{port}" }, func(m string) string { return "" })
	// Only rack 1's switch keeps the template: its port names are then unique.
	for _, sh := range s.Machines[1].Spec.Shelves {
		for j := range sh.Switches {
			sh.Switches[j].RelayAgent = nil
		}
	}
	site, err := installserver.BuildSite([]installserver.Member{s.resolve()}, testBoot, testSecret)
	if err != nil || len(site.Skipped) != 0 {
		t.Fatalf("%v %q", err, site.Skipped)
	}
	srv, rly, port1 := netlab.NewNetns(t, "rl-srv"), netlab.NewNetns(t, "rl-rly"), netlab.NewNetns(t, "rl-p1")
	// The relay's uplink on a network of its own; the provisioning network (198.18.0.0/16,
	// m1 at 198.18.7.1) is behind the relay's port p1.
	netlab.Link(t, srv, "s0", "198.19.250.1/24", rly, "r0", "198.19.250.2/24")
	netlab.Link(t, rly, "p1", "198.18.0.254/16", port1, "eth0", "")
	srv.IP("route", "add", "198.18.0.0/16", "via", "198.19.250.2")
	if out, err := rly.Output("sysctl", "-q", "-w", "net.ipv4.ip_forward=1"); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	ds, err := dhcp.New(dhcp.Config{Interface: "s0", ServerAddr: netip.MustParseAddr("198.19.250.1"),
		LeaseFile: filepath.Join(t.TempDir(), "leases.json")}, site.Table)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.InNetns(ds.Listen); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ds.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	relay := rly.Command("dhcrelay", "-4", "-d", "--no-pid", "-a", "-iu", "r0", "-id", "p1", "198.19.250.1")
	if err := relay.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { relay.Process.Kill(); relay.Wait() })

	dir := t.TempDir()
	hook := filepath.Join(dir, "hook.sh")
	os.WriteFile(hook, []byte("#!/bin/sh\n[ \"$1\" = bound ] && env > "+dir+"/bound.env\nexit 0\n"), 0o755)
	port1.IP("link", "set", "eth0", "address", "02:fc:00:00:99:01") // no NIC of the model has it
	var env string
	for deadline := time.Now().Add(30 * time.Second); env == "" && time.Now().Before(deadline); {
		port1.Output("udhcpc", "-f", "-q", "-n", "-i", "eth0", "-s", hook, "-t", "3", "-T", "1")
		b, _ := os.ReadFile(filepath.Join(dir, "bound.env"))
		env = string(b)
	}
	for _, want := range []string{"ip=198.18.7.1\n", "hostname=m1\n", "boot_file=undionly.kpxe\n"} {
		if !strings.Contains(env, want) {
			t.Fatalf("the stranger behind p1 got %q, want %q", env, want)
		}
	}
}
