package render

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strings"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/internal/archive"
	"github.com/flarecast/flarecast/internal/installplan"
	"github.com/flarecast/flarecast/internal/model"
)

// InstallPlans renders the install plan of every node of the cluster from its resolved model
// and its groups (the groups give the scripts and reboots; the model everything else). The
// plans come sorted by node name. The model must be complete and valid: a node that is not
// placed has no NICs or disks to put in a plan.
func InstallPlans(cl *fcv1.Cluster, groups []fcv1.NodesGroup, res *model.Result) []installplan.Plan {
	byName := map[string]*fcv1.NodesGroup{}
	for i := range groups {
		byName[groups[i].Name] = &groups[i]
	}
	nets := map[string]model.Net{}
	for _, n := range res.Networks {
		nets[n.Name] = n
	}
	var out []installplan.Plan
	for _, n := range res.Nodes {
		out = append(out, nodePlan(cl, byName[n.Group], res, nets, n))
	}
	slices.SortFunc(out, func(a, b installplan.Plan) int { return strings.Compare(a.Node, b.Node) })
	return out
}

func nodePlan(cl *fcv1.Cluster, g *fcv1.NodesGroup, res *model.Result, nets map[string]model.Net, n model.Node) installplan.Plan {
	p := installplan.Plan{
		Version: installplan.Version, Namespace: cl.Namespace, Cluster: cl.Name, Group: n.Group, Node: n.Name,
		Hostname: n.Name, NodeType: string(n.Type), Role: string(n.Role), Firmware: string(n.Firmware), Arch: string(n.Arch),
		NICs: nics(res, nets, n),
	}
	if n.Type == fcv1.NodeTypeDiskless {
		p.Root, p.Writes = installplan.RootNFS, installplan.WritesTmpfs
		if g != nil {
			p.Root, p.Writes = string(model.DisklessRoot(g)), string(model.DisklessWrites(g))
		}
	} else {
		p.Disks = disks(n)
	}
	if g == nil {
		return p
	}
	if g.Spec.Configuration != nil {
		p.Scripts = scripts(g.Spec.Configuration.Scripts)
		p.DoubleReboot = g.Spec.Configuration.Reboots == fcv1.RebootsTwice
	}
	if n.Type != fcv1.NodeTypeDiskfull {
		p.Mounts = mounts(g.Spec.SharedData)
	}
	return p
}

// mounts are the group's shared data in its order. The install server's own exports have
// no server or path here: the plan is the same wherever the install server stands, and the
// plan response says where it serves them (PlanResponse.Mounts).
func mounts(in []fcv1.SharedData) []installplan.Mount {
	var out []installplan.Mount
	for _, d := range in {
		m := installplan.Mount{Name: d.Name, MountPoint: d.MountPoint, ReadOnly: d.Access == fcv1.DataReadOnly}
		if d.NFS != nil {
			m.Server, m.Path = d.NFS.Server, d.NFS.Path
		}
		out = append(out, m)
	}
	return out
}

// nics lists each NIC once per network it carries (a VLAN on one cable is an interface of
// its own on the node), in the Network's order; a NIC on no network is listed bare, so the
// agent still knows its MAC.
func nics(res *model.Result, nets map[string]model.Net, n model.Node) []installplan.NIC {
	var out []installplan.NIC
	for _, nic := range n.NICs {
		if len(nic.Networks) == 0 {
			out = append(out, installplan.NIC{Name: nic.Name, MAC: nic.MAC})
			continue
		}
		for _, name := range nic.Networks {
			e := installplan.NIC{Name: nic.Name, MAC: nic.MAC, Network: name, Provisioning: name == res.ProvisioningNetwork}
			net := nets[name]
			e.Gateway, e.VLAN = net.Router, net.VLAN
			if ip := n.Addresses[name]; ip != "" {
				e.Address = withPrefix(ip, net.CIDR)
			}
			out = append(out, e)
		}
	}
	return out
}

// withPrefix writes an address in CIDR form with its network's prefix length.
func withPrefix(ip, cidr string) string {
	pfx, err := netip.ParsePrefix(cidr)
	if err != nil {
		return ip // a valid model has parsed every CIDR; keep the address rather than lose it
	}
	return fmt.Sprintf("%s/%d", ip, pfx.Bits())
}

func disks(n model.Node) []installplan.Disk {
	var out []installplan.Disk
	for _, d := range n.Disks {
		pd := installplan.Disk{Name: d.Name, Device: d.Device, Serial: d.Serial, BusPath: d.BusPath, Size: d.Size}
		for _, s := range d.Slices {
			pd.Slices = append(pd.Slices, installplan.Slice{Name: s.Name, Index: s.Index, Size: s.Size, FSType: string(s.FSType),
				MountPoint: s.MountPoint, Label: s.Label, Options: slices.Clone(s.Options)})
		}
		slices.SortFunc(pd.Slices, func(a, b installplan.Slice) int { return cmp.Compare(a.Index, b.Index) })
		out = append(out, pd)
	}
	return out
}

// scripts are in the order the configuration section runs them: by stage, then order, then
// name (archive.ConfigurationManifest's order).
func scripts(in []fcv1.Script) []installplan.Script {
	rank := map[string]int{string(archive.StageFirstBoot): 0, string(archive.StageBeforeServices): 1, string(archive.StageAfterServices): 2}
	var out []installplan.Script
	for _, s := range in {
		stage := cmp.Or(string(s.Stage), string(fcv1.StageAfterServices))
		out = append(out, installplan.Script{Name: s.Name, Stage: stage, Order: s.Order})
	}
	slices.SortFunc(out, func(a, b installplan.Script) int {
		return cmp.Or(cmp.Compare(rank[a.Stage], rank[b.Stage]), cmp.Compare(a.Order, b.Order), strings.Compare(a.Name, b.Name))
	})
	return out
}

// PlanFiles are the plans as cluster-section files, PlanDir/<node>.json, indented JSON.
func PlanFiles(plans []installplan.Plan) ([]archive.File, error) {
	out := make([]archive.File, 0, len(plans))
	for _, p := range plans {
		b, err := json.MarshalIndent(p, "", "  ")
		if err != nil {
			return nil, fmt.Errorf("encode the install plan of node %s: %w", p.Node, err)
		}
		out = append(out, archive.File{Path: PlanPath(p.Node), Mode: 0o644, Data: append(b, '\n')})
	}
	return out, nil
}

// PlanPath is where a node's plan lies in the node's root file system (and the section).
func PlanPath(node string) string { return "/" + path.Join(installplan.PlanDir, node+".json") }
