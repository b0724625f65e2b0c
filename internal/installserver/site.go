package installserver

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/internal/agentapi"
	"github.com/flarecast/flarecast/internal/dhcp"
	"github.com/flarecast/flarecast/internal/httpboot"
	"github.com/flarecast/flarecast/internal/installplan"
	"github.com/flarecast/flarecast/internal/model"
)

// Member is one Cluster of the site with its resolved model, the rules across the site
// included (model.Result.WithSite).
type Member struct {
	Cluster *fcv1.Cluster
	Result  *model.Result
	// Groups are the Cluster's NodesGroups: their diskless choice and shared data. A group
	// missing here serves its nodes with the defaults (an NFS root, writes in tmpfs, no
	// shared data).
	Groups []fcv1.NodesGroup
}

// BootConfig is what every node of the site boots, and where from.
type BootConfig struct {
	// ServerURL is the install server's HTTP base as the nodes reach it (http://198.18.0.1:8080).
	ServerURL string
	// NextServer is the TFTP server; the DHCP server's own address when unset.
	NextServer netip.Addr
	// BIOS, UEFI and ARM64 are TFTP file names of the boot loaders (undionly.kpxe, ipxe.efi,
	// snp.efi); empty when the boot directory has none, and that kind of client then gets an
	// address only.
	BIOS, UEFI, ARM64 string
	// HTTPBootX64 and HTTPBootARM64 are the boot files a UEFI HTTP boot client loads, by name
	// under ServerURL/boot/.
	HTTPBootX64, HTTPBootARM64 string
	// Kernel and Initramfs are the deploy kernel's files under ServerURL/boot/.
	Kernel, Initramfs string
	// Args are further kernel arguments (console=ttyS0,115200n8).
	Args []string
	// DNS servers and the DNS domain handed to every node (the model has neither).
	DNS       []netip.Addr
	Domain    string
	LeaseTime time.Duration
	// NFSServer and NFSPort are where Diskless nodes mount their roots (ExportPath).
	NFSServer netip.Addr
	NFSPort   int
}

// firmwareUEFI is the Board firmware whose boot script needs initrd= (the EFI stub's).
const firmwareUEFI fcv1.Firmware = "UEFI"

// NodeInfo is one node the site serves.
type NodeInfo struct {
	Ref      agentapi.NodeRef
	Group    string
	Address  netip.Prefix
	MAC      string
	Firmware fcv1.Firmware
	// Diskless is true for a node of a Diskless group: its root is its group's NFS export,
	// or a RAM root (Root).
	Diskless bool
	// Root and Writes are a Diskless node's choice (installplan.RootNFS or RootRAM,
	// WritesTmpfs or WritesPersistent); empty for other nodes.
	Root, Writes string
	// SharedData are the group's shared data this install server serves (no nfs: given).
	SharedData []fcv1.SharedData
	Script     httpboot.Script
}

// Site is what the install server serves, made from one version of the model. It is never
// changed once built: the next model change builds another.
type Site struct {
	Table  *dhcp.Table
	Tokens *agentapi.Tokens
	// byName holds the nodes by name: node names are unique across a valid site (they are
	// the DHCP host names), so the name is the script key and the DHCP table's node name.
	byName map[string]*NodeInfo
	// Skipped says, one sentence each, what of the model is not served and why.
	Skipped []string
}

// Node returns the node a request names, if the site serves it.
func (s *Site) Node(ref agentapi.NodeRef) (*NodeInfo, bool) {
	n, ok := s.byName[ref.Node]
	if !ok || n.Ref != ref {
		return nil, false
	}
	return n, true
}

// ByName returns the node of that name, if served.
func (s *Site) ByName(name string) (*NodeInfo, bool) {
	n, ok := s.byName[name]
	return n, ok
}

// Nodes lists the served nodes, sorted by name.
func (s *Site) Nodes() []*NodeInfo {
	out := make([]*NodeInfo, 0, len(s.byName))
	for _, n := range s.byName {
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b *NodeInfo) int { return strings.Compare(a.Ref.Node, b.Ref.Node) })
	return out
}

// DisklessGroup is a Diskless group the site serves nodes of.
type DisklessGroup struct{ Namespace, Cluster, Group string }

// DisklessGroups lists the groups with a served Diskless node whose root is an NFS export,
// sorted. A RAM root group has none: its nodes unpack the deployable from the blobs.
func (s *Site) DisklessGroups() []DisklessGroup {
	seen := map[DisklessGroup]bool{}
	var out []DisklessGroup
	for _, n := range s.byName {
		g := DisklessGroup{Namespace: n.Ref.Namespace, Cluster: n.Ref.Cluster, Group: n.Group}
		if n.Diskless && n.Root != installplan.RootRAM && !seen[g] {
			seen[g] = true
			out = append(out, g)
		}
	}
	slices.SortFunc(out, func(a, b DisklessGroup) int {
		return strings.Compare(a.Namespace+"/"+a.Cluster+"/"+a.Group, b.Namespace+"/"+b.Cluster+"/"+b.Group)
	})
	return out
}

// BuildSite makes the site's snapshot. A Cluster whose model breaks a rule (its own, or one
// across the site: a MAC, an address or a name used twice) is left out whole, since a DHCP
// server cannot serve a contradiction; a node that is not placed, has no provisioning NIC or
// no provisioning address is left out alone. Each is said in Skipped. Tokens are derived from
// secret for exactly the nodes served.
func BuildSite(members []Member, boot BootConfig, secret []byte) (*Site, error) {
	s := &Site{Table: &dhcp.Table{}, byName: map[string]*NodeInfo{}}
	var refs []agentapi.NodeRef
	portNames := map[string]string{}
	ms := slices.Clone(members)
	slices.SortFunc(ms, func(a, b Member) int { return strings.Compare(a.Cluster.Name, b.Cluster.Name) })
	for _, m := range ms {
		cl, res := m.Cluster, m.Result
		if !res.Valid() {
			s.skip("Cluster %s: its model breaks %d rule(s), first: %s; none of its nodes is served until it is valid", cl.Name, len(res.Problems), res.Problems[0].String())
			continue
		}
		net := provisioning(res)
		if net == nil {
			s.skip("Cluster %s: no provisioning network (its Network is missing or has no networks); none of its nodes is served", cl.Name)
			continue
		}
		prefix, err := netip.ParsePrefix(net.CIDR)
		if err != nil {
			s.skip("Cluster %s: provisioning network %s has CIDR %q: %v", cl.Name, net.Name, net.CIDR, err)
			continue
		}
		var routers []netip.Addr
		if r, err := netip.ParseAddr(net.Router); err == nil {
			routers = append(routers, r)
		}
		groups := map[string]*fcv1.NodesGroup{}
		for i := range m.Groups {
			groups[m.Groups[i].Name] = &m.Groups[i]
		}
		for i := range res.Nodes {
			n := &res.Nodes[i]
			info, dn, ports, why := nodeEntry(cl, n, groups[n.Group], net.Name, prefix, routers, boot)
			if why != "" {
				s.skip("node %s of Cluster %s: %s; not served", n.Name, cl.Name, why)
				continue
			}
			info.Script.Token = installplan.Token(secret, info.Ref.Namespace, info.Ref.Cluster, info.Ref.Node)
			s.byName[n.Name] = info
			refs = append(refs, info.Ref)
			s.Table.Nodes = append(s.Table.Nodes, dn)
			for _, p := range ports {
				// Two ports with one option 82 name (two switches with the same relay agent
				// template and no remote-id) would make the DHCP server refuse the whole table:
				// the later one is left out, and said.
				key := p.CircuitID + "\x00" + p.RemoteID
				if other, dup := portNames[key]; dup && other != p.Node {
					s.skip("node %s of Cluster %s: option 82 circuit-id %q remote-id %q is already the name of node %s's port, so this port is left out of the port map (the node is still served by its MAC); give the switches' relayAgent templates a remoteID or distinct circuitIDs", n.Name, cl.Name, p.CircuitID, p.RemoteID, other)
					continue
				}
				portNames[key] = p.Node
				s.Table.Ports = append(s.Table.Ports, p)
			}
		}
	}
	s.Tokens = agentapi.NewTokens(secret, refs)
	return s, nil
}

func (s *Site) skip(format string, args ...any) {
	s.Skipped = append(s.Skipped, fmt.Sprintf(format, args...))
}

func provisioning(res *model.Result) *model.Net {
	for i := range res.Networks {
		if res.Networks[i].Name == res.ProvisioningNetwork {
			return &res.Networks[i]
		}
	}
	return nil
}

// nodeEntry builds a node's lease, boot options and switch ports, or says why it cannot.
func nodeEntry(cl *fcv1.Cluster, n *model.Node, g *fcv1.NodesGroup, network string, prefix netip.Prefix, routers []netip.Addr, boot BootConfig) (*NodeInfo, dhcp.Node, []dhcp.Port, string) {
	if !n.Placed() {
		return nil, dhcp.Node{}, nil, "not placed on a drawer"
	}
	nic := n.NICOn(network)
	if nic == nil {
		return nil, dhcp.Node{}, nil, "no NIC on the provisioning network " + network
	}
	ip, err := netip.ParseAddr(n.Addresses[network])
	if err != nil {
		return nil, dhcp.Node{}, nil, "no address on the provisioning network " + network
	}
	mac, err := net.ParseMAC(nic.MAC)
	if err != nil {
		return nil, dhcp.Node{}, nil, fmt.Sprintf("NIC %s has MAC %q: %v", nic.Name, nic.MAC, err)
	}
	addr := netip.PrefixFrom(ip, prefix.Bits())
	args := append(slices.Clone(boot.Args), installplan.ArgNamespace+"="+cl.Namespace, installplan.ArgCluster+"="+cl.Name)
	diskless := n.Type == fcv1.NodeTypeDiskless
	root, writes := "", ""
	if diskless {
		root, writes = installplan.RootNFS, installplan.WritesTmpfs
		if g != nil {
			root, writes = string(model.DisklessRoot(g)), string(model.DisklessWrites(g))
		}
	}
	if diskless && root == installplan.RootNFS && boot.NFSServer.IsValid() {
		root := installplan.NFSRoot{Server: boot.NFSServer.String(), Port: boot.NFSPort, Path: ExportPath(cl.Namespace, n.Group)}
		args = append(args, installplan.ArgNFSRoot+"="+root.String())
	}
	info := &NodeInfo{
		Ref:      agentapi.NodeRef{Namespace: cl.Namespace, Cluster: cl.Name, Node: n.Name},
		Group:    n.Group,
		Address:  addr,
		MAC:      mac.String(),
		Firmware: n.Firmware,
		Diskless: diskless,
		Root:     root,
		Writes:   writes,
		Script: httpboot.Script{
			Node: n.Name, ServerURL: boot.ServerURL, Kernel: boot.Kernel, Initramfs: boot.Initramfs,
			Args: args, UEFI: n.Firmware == firmwareUEFI,
		},
	}
	dn := dhcp.Node{
		Name: n.Name, MACs: []net.HardwareAddr{mac}, Address: addr, Hostname: n.Name, Domain: boot.Domain,
		Routers: routers, DNS: boot.DNS, LeaseTime: boot.LeaseTime,
		Boot: dhcp.Boot{
			NextServer: boot.NextServer, BIOS: boot.BIOS, UEFI: boot.UEFI, ARM64: boot.ARM64,
			IPXEScript:    boot.ServerURL + "/ipxe/" + n.Name,
			HTTPBootX64:   bootURL(boot.ServerURL, boot.HTTPBootX64),
			HTTPBootARM64: bootURL(boot.ServerURL, boot.HTTPBootARM64),
		},
	}
	if g != nil && n.Type != fcv1.NodeTypeDiskfull {
		for _, d := range g.Spec.SharedData {
			if d.NFS == nil {
				info.SharedData = append(info.SharedData, d)
			}
		}
	}
	return info, dn, Ports(n.Machine, nic, n.Name), ""
}

func bootURL(base, file string) string {
	if file == "" {
		return ""
	}
	return base + "/boot/" + file
}

// Ports are the option 82 names of the switch port a NIC is cabled to, in the two forms a
// relay agent can be set to send: the circuit-id alone, "<machine>/<shelf>/<switch>/<port>";
// or the circuit-id "<port>" with the remote-id "<machine>/<shelf>/<switch>" (the switch's
// own name, and the port on it). None for a NIC that is not cabled.
func Ports(machine string, nic *model.NIC, node string) []dhcp.Port {
	if nic.Switch == "" || nic.Port == 0 {
		return nil
	}
	sw := machine + "/" + nic.Switch
	port := strconv.Itoa(int(nic.Port))
	ports := []dhcp.Port{
		{CircuitID: sw + "/" + port, Node: node},
		{CircuitID: port, RemoteID: sw, Node: node},
	}
	if nic.CircuitID != "" {
		// The switch's own relay agent's names (Machine spec: switches[].relayAgent).
		ports = append(ports, dhcp.Port{CircuitID: nic.CircuitID, RemoteID: nic.RemoteID, Node: node})
	}
	return ports
}
