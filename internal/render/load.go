package render

import (
	"fmt"
	"sort"

	"github.com/opencontainers/go-digest"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/internal/archive"
	"github.com/flarecast/flarecast/internal/model"
)

// NodeTable is the node table of the cluster section: every node of the cluster, with its
// addresses in the order of the Network's networks.
func NodeTable(res *model.Result) []archive.Node {
	var out []archive.Node
	for _, n := range sortedByID(res.Nodes) {
		row := archive.Node{Name: n.Name, ID: int(n.ID), Group: n.Group, Role: string(n.Role)}
		for _, net := range res.Networks {
			if ip, ok := n.Addresses[net.Name]; ok {
				row.Addresses = append(row.Addresses, ip)
			}
		}
		out = append(out, row)
	}
	return out
}

// SoftwareLoad is the descriptor of a cluster's software load: each group that names an
// archive, with the manifest digest of that archive (bases maps a group name to it) and its
// nodes. Every group of groups must have an entry in bases.
func SoftwareLoad(cl *fcv1.Cluster, groups []fcv1.NodesGroup, bases map[string]digest.Digest) (*archive.SoftwareLoadDescriptor, error) {
	d := &archive.SoftwareLoadDescriptor{Cluster: cl.Name, Domain: int(cl.Spec.Domain)}
	for _, g := range groups {
		base, ok := bases[g.Name]
		if !ok {
			return nil, fmt.Errorf("software load of cluster %s: no archive for nodes group %s", cl.Name, g.Name)
		}
		gl := archive.GroupLoad{Name: g.Name, Archive: base, Nodes: []string{}}
		for _, n := range g.Spec.Nodes {
			gl.Nodes = append(gl.Nodes, n.Name)
		}
		d.Groups = append(d.Groups, gl)
	}
	sort.Slice(d.Groups, func(i, j int) bool { return d.Groups[i].Name < d.Groups[j].Name })
	d.Normalize()
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return d, nil
}
