package dhcp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
)

// Table is everything the server knows of its site: the nodes it serves and the switch ports
// they are cabled to. The install server builds it from the resolved model of every Cluster of
// the site and hands a new one to Server.SetTable whenever the model changes.
type Table struct {
	Nodes []Node
	// Ports maps a relay agent's option 82 (circuit-id, remote-id) to the node cabled there.
	Ports []Port
}

// Node is one node's static lease and boot options.
type Node struct {
	// Name identifies the node in leases, bindings and reports (the install server uses
	// namespace/group/node, say). Unique in the table.
	Name string
	// MACs are the node's known interfaces. A node reached only by its switch port may have
	// none: the MAC seen on its port is learned.
	MACs []net.HardwareAddr
	// Address is the node's address with its prefix length (198.18.2.10/24).
	Address   netip.Prefix
	Hostname  string
	Domain    string
	Routers   []netip.Addr
	DNS       []netip.Addr
	LeaseTime time.Duration
	Boot      Boot
}

// Boot says what each kind of client boots. An empty field means that kind of client gets its
// address and no boot file.
type Boot struct {
	// NextServer is the TFTP server (siaddr); the server's own address when unset.
	NextServer netip.Addr
	// BIOS is the TFTP file for a legacy PXE client (option 93 absent or 0): undionly.kpxe.
	BIOS string
	// UEFI is the TFTP file for x86_64 UEFI PXE (option 93 7 or 9): ipxe.efi or snponly.efi.
	UEFI string
	// ARM64 is the TFTP file for arm64 UEFI PXE (option 93 11): snp.efi.
	ARM64 string
	// IPXEScript is the HTTP URL of the node's iPXE script, handed at once to a client whose
	// user class is iPXE, so that iPXE already in a NIC's ROM skips the TFTP chain.
	IPXEScript string
	// HTTPBootX64 and HTTPBootARM64 are the URLs a UEFI HTTP boot client (vendor class
	// HTTPClient, option 93 16 or 19) loads.
	HTTPBootX64   string
	HTTPBootARM64 string
}

// Port is a switch port as a relay agent names it in option 82, and the node cabled to it.
type Port struct {
	CircuitID string
	// RemoteID, when set, must match too; when empty, the circuit-id alone names the port.
	RemoteID string
	Node     string
}

// DefaultLeaseTime is used for a node whose LeaseTime is zero.
const DefaultLeaseTime = time.Hour

// index is a validated Table, shaped for the per-packet lookups. It is never changed once
// built: SetTable swaps a whole new one in.
type index struct {
	byName map[string]*Node
	byMAC  map[string]*Node
	byAddr map[netip.Addr]*Node
	// byPort holds ports with a remote-id (key circuit + "\x00" + remote); byCircuit the others.
	byPort    map[string]*Node
	byCircuit map[string]*Node
}

func portKey(circuit, remote string) string { return circuit + "\x00" + remote }

// compile checks the table for what a DHCP server would trip over and builds its index. A
// table with problems is refused as a whole, so that the server keeps serving the last good one.
func compile(t *Table) (*index, error) {
	ix := &index{
		byName:    make(map[string]*Node, len(t.Nodes)),
		byMAC:     make(map[string]*Node, len(t.Nodes)),
		byAddr:    make(map[netip.Addr]*Node, len(t.Nodes)),
		byPort:    map[string]*Node{},
		byCircuit: map[string]*Node{},
	}
	var errs []error
	for i := range t.Nodes {
		n := t.Nodes[i] // a copy: the caller may reuse its table
		n.MACs = append([]net.HardwareAddr(nil), n.MACs...)
		if n.LeaseTime <= 0 {
			n.LeaseTime = DefaultLeaseTime
		}
		if err := checkNode(&n); err != nil {
			errs = append(errs, err)
			continue
		}
		if prev, ok := ix.byName[n.Name]; ok {
			errs = append(errs, fmt.Errorf("node %q: the name is used twice (also %s)", n.Name, prev.Address))
			continue
		}
		ix.byName[n.Name] = &n
		a := n.Address.Addr()
		if prev, ok := ix.byAddr[a]; ok {
			errs = append(errs, fmt.Errorf("node %q: address %s is also node %q's", n.Name, a, prev.Name))
		} else {
			ix.byAddr[a] = &n
		}
		for _, mac := range n.MACs {
			if prev, ok := ix.byMAC[string(mac)]; ok {
				errs = append(errs, fmt.Errorf("node %q: MAC %s is also node %q's", n.Name, mac, prev.Name))
				continue
			}
			ix.byMAC[string(mac)] = &n
		}
	}
	for _, p := range t.Ports {
		n, ok := ix.byName[p.Node]
		switch {
		case p.CircuitID == "":
			errs = append(errs, fmt.Errorf("port for node %q: empty circuit-id", p.Node))
			continue
		case !ok:
			errs = append(errs, fmt.Errorf("port %q: node %q is not in the table", p.CircuitID, p.Node))
			continue
		}
		m, key := ix.byCircuit, p.CircuitID
		if p.RemoteID != "" {
			m, key = ix.byPort, portKey(p.CircuitID, p.RemoteID)
		}
		if prev, ok := m[key]; ok {
			errs = append(errs, fmt.Errorf("port %q/%q: cabled to both %q and %q", p.CircuitID, p.RemoteID, prev.Name, p.Node))
			continue
		}
		m[key] = n
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("dhcp table refused: %w", errors.Join(errs...))
	}
	return ix, nil
}

func checkNode(n *Node) error {
	if n.Name == "" {
		return fmt.Errorf("node with address %s: empty name", n.Address)
	}
	if !n.Address.IsValid() || !n.Address.Addr().Is4() || n.Address.Bits() < 1 || n.Address.Bits() > 30 {
		return fmt.Errorf("node %q: address %s is not an IPv4 address with a prefix length of 1 to 30", n.Name, n.Address)
	}
	if a := n.Address.Addr(); a == n.Address.Masked().Addr() || a == broadcastOf(n.Address) {
		return fmt.Errorf("node %q: address %s is its subnet's network or broadcast address", n.Name, n.Address)
	}
	for _, mac := range n.MACs {
		if len(mac) != 6 {
			return fmt.Errorf("node %q: MAC %s is not a 6-byte Ethernet address", n.Name, mac)
		}
	}
	for _, r := range n.Routers {
		if !r.Is4() || !n.Address.Contains(r) {
			return fmt.Errorf("node %q: router %s is not in its subnet %s", n.Name, r, n.Address.Masked())
		}
	}
	for _, d := range n.DNS {
		if !d.Is4() {
			return fmt.Errorf("node %q: DNS server %s is not IPv4", n.Name, d)
		}
	}
	if n.Boot.NextServer.IsValid() && !n.Boot.NextServer.Is4() {
		return fmt.Errorf("node %q: next-server %s is not IPv4", n.Name, n.Boot.NextServer)
	}
	if strings.ContainsRune(n.Hostname+n.Domain, 0) {
		return fmt.Errorf("node %q: host or domain name holds a NUL byte", n.Name)
	}
	if n.LeaseTime > 0xffffffff*time.Second {
		return fmt.Errorf("node %q: lease time %s does not fit DHCP's 32-bit seconds", n.Name, n.LeaseTime)
	}
	return nil
}

func broadcastOf(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
