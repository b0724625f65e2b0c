package render

import (
	"maps"
	"sort"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/internal/model"
)

// Data is what a foundation-service template sees. Its shape is a contract with the users
// who write templates (docs/archives-in-kubernetes.md documents it): fields are only ever
// added.
type Data struct {
	Cluster ClusterData
	// Nodes are every node of the cluster, sorted by node id.
	Nodes []NodeData
	// MasterEligible are the master-eligible nodes, sorted by node id.
	MasterEligible []NodeData
}

// ClusterData identifies the cluster.
type ClusterData struct {
	Name   string
	Domain int32
}

// NodeData is one node as a template sees it.
type NodeData struct {
	ID   int32
	Name string
	// Addresses maps a network name to the node's IPv4 address on it.
	Addresses map[string]string
	// Role is MasterEligible or NonMasterEligible.
	Role string
}

// DataFrom builds the template data of a cluster from its resolved model.
func DataFrom(cl *fcv1.Cluster, res *model.Result) Data {
	d := Data{Cluster: ClusterData{Name: cl.Name, Domain: cl.Spec.Domain}}
	for _, n := range sortedByID(res.Nodes) {
		nd := NodeData{ID: n.ID, Name: n.Name, Addresses: maps.Clone(n.Addresses), Role: string(n.Role)}
		if nd.Addresses == nil {
			nd.Addresses = map[string]string{}
		}
		d.Nodes = append(d.Nodes, nd)
		if n.MasterEligible() {
			d.MasterEligible = append(d.MasterEligible, nd)
		}
	}
	return d
}

func sortedByID(nodes []model.Node) []model.Node {
	out := append([]model.Node(nil), nodes...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
