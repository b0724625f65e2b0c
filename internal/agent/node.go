package agent

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/flarecast/flarecast/internal/installplan"
)

// nodeFile is a file of the node's own values, relative to the installed root.
type nodeFile struct {
	path string
	mode os.FileMode
	data string
}

// nodeSetup is what the node's own files are made from.
type nodeSetup struct {
	plan    installplan.Plan
	archive installplan.Archive
	// parts are the slices laid out on the node's disks (none for a Diskless node).
	parts []laidOut
	// mounts are the shared data the group declares, as the install server resolved them.
	mounts []installplan.NFSMount
	// ifupdown is set when the archive raises its interfaces with ifupdown.
	ifupdown bool
	// netRoot names the Diskless root (NFS, RAM): the provisioning NIC then keeps the
	// address the initramfs gave it (an NFS root must never lose its network while systemd
	// starts, and a RAM root's node stays reachable the same way).
	netRoot string
}

// nodeFiles are what makes the installed tree this node's: its host name, its addresses as
// systemd-networkd configuration (interfaces named and matched by MAC, so that probe order
// does not matter), the fstab of its slices (by PARTUUID) and of its group's shared data
// (NFSv3), and the record of what was installed. Everything else the node needs is in the
// archive's sections.
func nodeFiles(s nodeSetup) ([]nodeFile, error) {
	p, a := s.plan, s.archive
	tab, err := fstab(s.parts, s.mounts)
	if err != nil {
		return nil, err
	}
	keep := s.netRoot != ""
	files := []nodeFile{
		{"etc/hostname", 0o644, p.Hostname + "\n"},
		{"etc/hosts", 0o644, hosts(p)},
		{"etc/fstab", 0o644, tab},
	}
	files = append(files, networkd(p.NICs, keep)...)
	if s.ifupdown {
		files = append(files, nodeFile{IfupdownFile, 0o644, interfaces(p.NICs, keep)})
	}
	rec, err := json.MarshalIndent(installed{Node: p.Namespace + "/" + p.Cluster + "/" + p.Node, Archive: a.Name, Digest: a.Digest, Root: s.netRoot}, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(files, nodeFile{InstalledRecord, 0o644, string(rec) + "\n"}), nil
}

// InstalledRecord is where the agent records, relative to the installed root, which archive
// the node holds once every section's digests matched; a resident agent reports it.
const InstalledRecord = "var/lib/flarecast/installed.json"

type installed struct {
	Node    string `json:"node"`
	Archive string `json:"archive"`
	Digest  string `json:"digest"`
	// Root is NFS or RAM for a Diskless node, whose every boot is a network boot.
	Root string `json:"root,omitempty"`
}

func hosts(p installplan.Plan) string {
	var b strings.Builder
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	name := p.Hostname
	if p.Domain != "" {
		name = p.Hostname + "." + p.Domain + "\t" + p.Hostname
	}
	for _, n := range p.NICs {
		if ip, _, ok := strings.Cut(n.Address, "/"); ok && n.Provisioning {
			fmt.Fprintf(&b, "%s\t%s\n", ip, name)
			return b.String()
		}
	}
	fmt.Fprintf(&b, "127.0.1.1\t%s\n", name)
	return b.String()
}

func fstab(parts []laidOut, mounts []installplan.NFSMount) (string, error) {
	var b strings.Builder
	b.WriteString("# Written by flarecast-agent from the node's install plan.\n")
	sorted := slices.Clone(parts)
	slices.SortFunc(sorted, func(a, b laidOut) int { return cmp.Compare(a.Number, b.Number) })
	for _, p := range sorted {
		fs := p.Filesystem
		if fs == nil {
			continue
		}
		opts := strings.Join(p.options, ",")
		if opts == "" {
			opts = "defaults"
		}
		switch {
		case fs.Type == "swap":
			fmt.Fprintf(&b, "PARTUUID=%s\tnone\tswap\tsw\t0\t0\n", p.PartUUID)
		case fs.MountPoint != "":
			pass := 2
			if fs.MountPoint == "/" {
				pass = 1
			}
			if fs.Type == "xfs" {
				pass = 0 // xfs checks itself at mount; fsck.xfs does nothing
			}
			fmt.Fprintf(&b, "PARTUUID=%s\t%s\t%s\t%s\t0\t%d\n", p.PartUUID, fs.MountPoint, fs.Type, opts, pass)
		}
	}
	for _, m := range mounts {
		line, err := nfsFstabLine(m)
		if err != nil {
			return "", err
		}
		b.WriteString(line)
	}
	return b.String(), nil
}

// nfsFstabLine is a shared-data mount as the installed system mounts it: NFSv3 over TCP,
// after the network (_netdev). An export of the install server (given with its port) has
// MOUNT on the NFS port over TCP (one port, no portmapper) and no lock manager (nolock);
// another server's is mounted as its portmapper says, with the locking it offers. With the
// server given by address, addr= lets the kernel mount it even where mount.nfs (nfs-common)
// is not installed; mount.nfs replaces it with the address it resolves.
func nfsFstabLine(m installplan.NFSMount) (string, error) {
	if m.Server == "" || !path.IsAbs(m.Path) || !path.IsAbs(m.MountPoint) || path.Clean(m.MountPoint) != m.MountPoint || m.MountPoint == "/" {
		return "", fmt.Errorf("shared data %s: the install server gives server %q, path %q and mount point %q: want a server, an absolute path and an absolute mount point other than /", m.Name, m.Server, m.Path, m.MountPoint)
	}
	for _, f := range []string{m.Server, m.Path, m.MountPoint} {
		if strings.ContainsAny(f, " \t\n\\#") {
			return "", fmt.Errorf("shared data %s: %q holds a blank, a backslash or a #, which fstab cannot hold", m.Name, f)
		}
	}
	opts := []string{"vers=3", "proto=tcp"}
	if m.Port != 0 {
		opts = append(opts, fmt.Sprintf("port=%d", m.Port), fmt.Sprintf("mountport=%d", m.Port), "mountproto=tcp", "nolock")
	}
	if ip, err := netip.ParseAddr(m.Server); err == nil {
		opts = append(opts, "addr="+ip.String())
	}
	if m.ReadOnly {
		opts = append(opts, "ro")
	}
	for _, o := range m.Options {
		if o == "" || strings.ContainsAny(o, " \t\n,#") {
			return "", fmt.Errorf("shared data %s: mount option %q", m.Name, o)
		}
		opts = append(opts, o)
	}
	opts = append(opts, "_netdev")
	server := m.Server
	if strings.Contains(server, ":") {
		server = "[" + server + "]"
	}
	return fmt.Sprintf("%s:%s\t%s\tnfs\t%s\t0\t0\n", server, m.Path, m.MountPoint, strings.Join(opts, ",")), nil
}

// networkd writes, per NIC, a .link that names it by its MAC and a .network with its
// address. A NIC that carries several networks tags them: each becomes a VLAN interface
// (NAME.VLAN) of its own; a NIC on one network is on it untagged (the switch port does the
// VLAN).
//
// With keep (a Diskless node), the provisioning NIC's network keeps what it has when
// networkd starts or stops (KeepConfiguration=yes): the root is reached through it.
func networkd(nics []installplan.NIC, keep bool) []nodeFile {
	const dir = "etc/systemd/network"
	byName := map[string][]installplan.NIC{}
	var names []string
	for _, n := range nics {
		if _, ok := byName[n.Name]; !ok {
			names = append(names, n.Name)
		}
		byName[n.Name] = append(byName[n.Name], n)
	}
	var out []nodeFile
	for _, name := range names {
		entries := byName[name]
		mac := entries[0].MAC
		out = append(out, nodeFile{filepath.Join(dir, "10-flarecast-"+name+".link"), 0o644,
			fmt.Sprintf("[Match]\nMACAddress=%s\n\n[Link]\nName=%s\n", mac, name)})
		parent := fmt.Sprintf("[Match]\nMACAddress=%s\n\n[Network]\n", mac)
		if len(entries) == 1 {
			out = append(out, nodeFile{filepath.Join(dir, "10-flarecast-"+name+".network"), 0o644, parent + addressLines(entries[0], keep)})
			continue
		}
		for _, e := range entries {
			if e.VLAN == 0 {
				parent += addressLines(e, keep)
				continue
			}
			vif := fmt.Sprintf("%s.%d", name, e.VLAN)
			parent += "VLAN=" + vif + "\n"
			out = append(out,
				nodeFile{filepath.Join(dir, "10-flarecast-"+vif+".netdev"), 0o644, fmt.Sprintf("[NetDev]\nName=%s\nKind=vlan\n\n[VLAN]\nId=%d\n", vif, e.VLAN)},
				nodeFile{filepath.Join(dir, "10-flarecast-"+vif+".network"), 0o644, fmt.Sprintf("[Match]\nName=%s\n\n[Network]\n", vif) + addressLines(e, keep)})
		}
		out = append(out, nodeFile{filepath.Join(dir, "10-flarecast-"+name+".network"), 0o644, parent})
	}
	return out
}

// IfupdownFile is where the node's addresses go for an archive that raises its interfaces
// with ifupdown (Debian's default, which leaves networkd off): the .link files name the
// NICs either way, since udev reads them.
const IfupdownFile = "etc/network/interfaces.d/flarecast"

// interfaces is the ifupdown form of networkd's: a NIC on one network holds its address, a
// NIC on several is raised bare and each network is a VLAN interface NAME.VLAN of it.
//
// With keep (a Diskless node), the provisioning interface is left out: ifupdown would add
// its address again (and fail), and take the link down at ifdown, under the root. It keeps
// the address the initramfs gave it.
func interfaces(nics []installplan.NIC, keep bool) string {
	var b strings.Builder
	b.WriteString("# Written by flarecast-agent from the node's install plan.\n")
	byName := map[string][]installplan.NIC{}
	var names []string
	for _, n := range nics {
		if _, ok := byName[n.Name]; !ok {
			names = append(names, n.Name)
		}
		byName[n.Name] = append(byName[n.Name], n)
	}
	stanza := func(name string, n installplan.NIC) {
		if keep && n.Provisioning {
			fmt.Fprintf(&b, "\n# %s carries the node's network root: it keeps the address the initramfs gave it.\n", name)
			return
		}
		if n.Address == "" {
			fmt.Fprintf(&b, "\nauto %s\niface %s inet manual\n", name, name)
			return
		}
		fmt.Fprintf(&b, "\nauto %s\niface %s inet static\n\taddress %s\n", name, name, n.Address)
		if n.Gateway != "" {
			fmt.Fprintf(&b, "\tgateway %s\n", n.Gateway)
		}
	}
	for _, name := range names {
		entries := byName[name]
		if len(entries) == 1 {
			stanza(name, entries[0])
			continue
		}
		stanza(name, installplan.NIC{})
		for _, e := range entries {
			if e.VLAN == 0 {
				continue
			}
			stanza(fmt.Sprintf("%s.%d", name, e.VLAN), e)
		}
	}
	return b.String()
}

func addressLines(n installplan.NIC, keep bool) string {
	if n.Address == "" {
		return "LinkLocalAddressing=no\n"
	}
	s := "Address=" + n.Address + "\n"
	if n.Gateway != "" {
		s += "Gateway=" + n.Gateway + "\n"
	}
	if keep && n.Provisioning {
		s += "KeepConfiguration=yes\n"
	}
	return s
}

// writeNodeFiles writes the files under root, refusing to follow a symlink the archive put
// in the way (os.Root keeps every write inside the installed tree).
func writeNodeFiles(root string, files []nodeFile) error {
	r, err := os.OpenRoot(root)
	if err != nil {
		return err
	}
	defer r.Close()
	for _, f := range files {
		if err := r.MkdirAll(filepath.Dir(f.path), 0o755); err != nil {
			return fmt.Errorf("write %s: %w", f.path, err)
		}
		tmp := f.path + ".flarecast-new"
		if err := r.WriteFile(tmp, []byte(f.data), f.mode); err != nil {
			return fmt.Errorf("write %s: %w", f.path, err)
		}
		if err := r.Rename(tmp, f.path); err != nil {
			return fmt.Errorf("write %s: %w", f.path, err)
		}
	}
	return nil
}
