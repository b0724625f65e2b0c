// Command dhcpbench serves a generated site to perfdhcp for the P3 benchmark (hack/bench-dhcp.sh):
// one node per perfdhcp client, its MAC derived from perfdhcp's base MAC as perfdhcp derives
// it, its address from a prefix. With -kea it instead writes a Kea 2.2 configuration with a
// reservation for each of the same MACs and addresses, so both servers serve the same site.
// It is a benchmark fixture, not a way to run the install server.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/flarecast/flarecast/internal/dhcp"
)

func main() {
	iface := flag.String("interface", "", "interface to serve on")
	server := flag.String("server", "", "the server's address on that interface")
	baseMAC := flag.String("base-mac", "00:0c:01:00:00:00", "perfdhcp's -b mac=…; its last two bytes must be 0")
	clients := flag.Int("clients", 10000, "perfdhcp's -R: how many clients (at most 65536)")
	prefix := flag.String("prefix", "198.18.64.0/18", "where the nodes' addresses come from")
	leaseFile := flag.String("lease-file", "", "the lease file")
	kea := flag.String("kea", "", "write a Kea configuration for the same site to this file and exit")
	keaLeases := flag.String("kea-lease-file", "", "Kea's memfile lease file (with -kea)")
	relay := flag.String("relay", "198.18.4.2", "perfdhcp's address: the giaddr by which Kea selects the subnet (with -kea)")
	keaThreads := flag.Int("kea-threads", 0, "Kea multi-threading pool size; 0 leaves multi-threading off (Kea 2.2's default)")
	flag.Parse()
	nodes, pfx, err := site(*baseMAC, *clients, *prefix)
	if err == nil && *kea != "" {
		err = writeKea(*kea, *keaLeases, *iface, *server, *relay, pfx, nodes, *keaThreads)
	} else if err == nil {
		err = serve(*iface, *server, *leaseFile, nodes)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "dhcpbench:", err)
		os.Exit(1)
	}
}

// site is the generated table: client i has MAC base+i (perfdhcp adds a random number below -R
// to the last bytes of its base MAC) and address prefix+10+i.
func site(base string, clients int, prefix string) ([]dhcp.Node, netip.Prefix, error) {
	mac, err := net.ParseMAC(base)
	if err != nil || len(mac) != 6 || mac[4] != 0 || mac[5] != 0 {
		return nil, netip.Prefix{}, fmt.Errorf("base MAC %q: want six bytes ending in 00:00", base)
	}
	pfx, err := netip.ParsePrefix(prefix)
	if err != nil || !pfx.Addr().Is4() {
		return nil, netip.Prefix{}, fmt.Errorf("prefix %q: %v", prefix, err)
	}
	if clients < 1 || clients > 65536 || 1<<(32-pfx.Bits()) < clients+12 {
		return nil, netip.Prefix{}, fmt.Errorf("%d clients do not fit (at most 65536, and in %s)", clients, pfx)
	}
	router := pfx.Masked().Addr().Next()
	addr := router
	for range 9 {
		addr = addr.Next()
	}
	nodes := make([]dhcp.Node, clients)
	for i := range nodes {
		m := append(net.HardwareAddr(nil), mac...)
		m[4], m[5] = byte(i>>8), byte(i)
		nodes[i] = dhcp.Node{
			Name: fmt.Sprintf("node-%05d", i), MACs: []net.HardwareAddr{m},
			Address: netip.PrefixFrom(addr, pfx.Bits()), Hostname: fmt.Sprintf("node-%05d", i),
			Routers: []netip.Addr{router}, LeaseTime: time.Hour,
			Boot: dhcp.Boot{BIOS: "undionly.kpxe", UEFI: "ipxe.efi"},
		}
		addr = addr.Next()
	}
	return nodes, pfx, nil
}

func serve(iface, server, leaseFile string, nodes []dhcp.Node) error {
	addr, err := netip.ParseAddr(server)
	if err != nil {
		return fmt.Errorf("server address: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	s, err := dhcp.New(dhcp.Config{Interface: iface, ServerAddr: addr, LeaseFile: leaseFile, Logger: log}, &dhcp.Table{Nodes: nodes})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return s.Serve(ctx)
}

// writeKea writes the configuration a Kea user would write for the same site: memfile leases,
// one subnet, a reservation per MAC, the same options and lease time.
func writeKea(path, leases, iface, server, relay string, pfx netip.Prefix, nodes []dhcp.Node, threads int) error {
	type reservation struct {
		HWAddress string `json:"hw-address"`
		IPAddress string `json:"ip-address"`
		Hostname  string `json:"hostname"`
		BootFile  string `json:"boot-file-name"`
	}
	res := make([]reservation, len(nodes))
	for i, n := range nodes {
		res[i] = reservation{HWAddress: n.MACs[0].String(), IPAddress: n.Address.Addr().String(), Hostname: n.Hostname, BootFile: n.Boot.BIOS}
	}
	router := nodes[0].Routers[0].String()
	dhcp4 := map[string]any{
		"interfaces-config":            map[string]any{"interfaces": []string{iface + "/" + server}, "dhcp-socket-type": "udp"},
		"lease-database":               map[string]any{"type": "memfile", "persist": true, "name": leases, "lfc-interval": 0},
		"valid-lifetime":               3600,
		"renew-timer":                  1800,
		"rebind-timer":                 3150,
		"host-reservation-identifiers": []string{"hw-address"},
		"subnet4": []map[string]any{{
			"id": 1, "subnet": pfx.Masked().String(),
			"relay":               map[string]any{"ip-addresses": []string{relay}},
			"option-data":         []map[string]any{{"name": "routers", "data": router}},
			"next-server":         server,
			"reservations":        res,
			"reservations-global": false, "reservations-in-subnet": true, "reservations-out-of-pool": true,
		}},
		"loggers": []map[string]any{{"name": "kea-dhcp4", "severity": "WARN", "output_options": []map[string]any{{"output": "stderr"}}}},
	}
	if threads > 0 {
		dhcp4["multi-threading"] = map[string]any{"enable-multi-threading": true, "thread-pool-size": threads, "packet-queue-size": 64}
	}
	data, err := json.MarshalIndent(map[string]any{"Dhcp4": dhcp4}, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}
