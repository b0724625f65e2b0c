package model

import (
	"fmt"
	"strings"
	"testing"

	"github.com/flarecast/flarecast/api/v1alpha1"
)

// twoClusters is site dc1 with two clusters on one Network: edge (the test site, domain 3)
// and core, its copy on Machine core-site with nodes c1..c4, other MACs, and domain 4.
func twoClusters() (edge, core Input) {
	edge, core = site(), site()
	edge.Cluster.Spec.InstallServer = v1alpha1.InstallServerSpec{Site: "dc1", Interface: "eth0"}
	core.Cluster.Name = "core"
	core.Cluster.Spec.Domain = 4
	core.Cluster.Spec.InstallServer = v1alpha1.InstallServerSpec{Site: "dc1"}
	core.Machines[0].Name = "core-site"
	core.Cluster.Spec.MachineRefs = []v1alpha1.LocalObjectReference{{Name: "core-site"}}
	for i := range core.Machines[0].Spec.Shelves[0].Drawers {
		d := &core.Machines[0].Spec.Shelves[0].Drawers[i]
		d.Boards[0].NICs[0].MAC = fmt.Sprintf("02:00:00:00:04:%02x", i+1)
	}
	for i := range core.Groups {
		core.Groups[i].Spec.ClusterRef.Name = "core"
		for j := range core.Groups[i].Spec.Nodes {
			n := &core.Groups[i].Spec.Nodes[j]
			n.Name = "c" + n.Name[1:]
		}
	}
	return edge, core
}

func resolveSite(ins ...Input) []Problem {
	var ms []SiteMember
	for _, in := range ins {
		ms = append(ms, SiteMember{Cluster: in.Cluster, Result: Resolve(in)})
	}
	return ResolveSite("dc1", ms)
}

// conflictOnBoth asserts that the site gives exactly one problem on each cluster, with the
// reason, each naming the other cluster.
func conflictOnBoth(t *testing.T, ps []Problem, reason Reason, field string, want map[string]string) {
	t.Helper()
	if len(ps) != len(want) {
		t.Fatalf("want %d problems, got:\n%s", len(want), render(ps))
	}
	for _, p := range ps {
		line, ok := want[p.Name]
		if !ok || p.Kind != KindCluster || p.Reason != reason || p.Field != field {
			t.Errorf("unexpected %s (reason %s)", p, p.Reason)
			continue
		}
		if p.String() != line {
			t.Errorf("got  %s\nwant %s", p, line)
		}
	}
}

func TestTwoClustersOfASiteThatDoNotCollideAreFine(t *testing.T) {
	edge, core := twoClusters()
	if ps := resolveSite(edge, core); len(ps) != 0 {
		t.Fatalf("problems:\n%s", render(ps))
	}
}

func TestMACUniqueAcrossTheClustersOfASite(t *testing.T) {
	edge, core := twoClusters()
	core.Machines[0].Spec.Shelves[0].Drawers[2].Boards[0].NICs[0].MAC = "02:00:00:00:00:01" // edge's m1
	conflictOnBoth(t, resolveSite(edge, core), ReasonSiteMACConflict, "spec.installServer.site", map[string]string{
		"core": "Cluster/core: spec.installServer.site: MAC 02:00:00:00:00:01 of node c3 is also node m1 of Cluster/edge in site dc1: give each NIC its own MAC",
		"edge": "Cluster/edge: spec.installServer.site: MAC 02:00:00:00:00:01 of node m1 is also node c3 of Cluster/core in site dc1: give each NIC its own MAC",
	})
	// Another site, or none, shares no install server: no rule across them.
	core.Cluster.Spec.InstallServer.Site = "dc2"
	if ps := resolveSite(edge, core); len(ps) != 0 {
		t.Fatalf("clusters of two sites: %s", render(ps))
	}
	core.Cluster.Spec.InstallServer.Site = ""
	if ps := ResolveSite("", []SiteMember{{edge.Cluster, Resolve(edge)}, {core.Cluster, Resolve(core)}}); len(ps) != 0 {
		t.Fatalf("clusters of no site: %s", render(ps))
	}
}

func TestProvisioningAddressUniqueAcrossTheClustersOfASite(t *testing.T) {
	edge, core := twoClusters()
	core.Cluster.Spec.Domain = 3 // the same derived addresses as edge on the shared Network
	ps := resolveSite(edge, core)
	if len(ps) != 8 {
		t.Fatalf("want the 4 nodes' addresses on both clusters, got:\n%s", render(ps))
	}
	want := "Cluster/core: spec.installServer.site: provisioning address 198.18.3.1 of node c1 is also node m1 of Cluster/edge in site dc1: give the clusters different domains, or the nodes different addresses"
	found := false
	for _, p := range ps {
		found = found || p.String() == want
		if p.Reason != ReasonSiteAddressConflict {
			t.Errorf("reason %s: %s", p.Reason, p)
		}
	}
	if !found {
		t.Fatalf("no %q among:\n%s", want, render(ps))
	}
}

func TestNodeNameUniqueAcrossTheClustersOfASite(t *testing.T) {
	edge, core := twoClusters()
	group(core, "workers").Spec.Nodes[0].Name = "m1"
	conflictOnBoth(t, resolveSite(edge, core), ReasonSiteNodeNameConflict, "spec.installServer.site", map[string]string{
		"core": "Cluster/core: spec.installServer.site: node name m1 of NodesGroup workers is also the name of a node of NodesGroup masters of Cluster/edge in site dc1, and the install server gives each node its name as DHCP host name: rename one of them",
		"edge": "Cluster/edge: spec.installServer.site: node name m1 of NodesGroup masters is also the name of a node of NodesGroup workers of Cluster/core in site dc1, and the install server gives each node its name as DHCP host name: rename one of them",
	})
}

func TestInstallServerSettingsAgreeAcrossASite(t *testing.T) {
	edge, core := twoClusters()
	core.Cluster.Spec.InstallServer.Interface = "eth1"
	conflictOnBoth(t, resolveSite(edge, core), ReasonSiteInstallServerConflict, "spec.installServer.interface", map[string]string{
		"core": "Cluster/core: spec.installServer.interface: install server interface eth1 differs from eth0 of Cluster/edge in site dc1, whose clusters share one install server: set the same interface on every Cluster of the site, or give this one its own site",
		"edge": "Cluster/edge: spec.installServer.interface: install server interface eth0 differs from eth1 of Cluster/core in site dc1, whose clusters share one install server: set the same interface on every Cluster of the site, or give this one its own site",
	})
	core.Cluster.Spec.InstallServer.Interface = ""
	core.Cluster.Spec.InstallServer.Mode = "Pod" // edge's is the default, Local
	conflictOnBoth(t, resolveSite(edge, core), ReasonSiteInstallServerConflict, "spec.installServer.mode", map[string]string{
		"core": "Cluster/core: spec.installServer.mode: install server mode Pod differs from Local of Cluster/edge in site dc1, whose clusters share one install server: set the same mode on every Cluster of the site, or give this one its own site",
		"edge": "Cluster/edge: spec.installServer.mode: install server mode Local differs from Pod of Cluster/core in site dc1, whose clusters share one install server: set the same mode on every Cluster of the site, or give this one its own site",
	})
	core.Cluster.Spec.InstallServer.Mode = ""
	edge.Cluster.Spec.InstallServer.RepositoryPullSecretRef = &v1alpha1.LocalObjectReference{Name: "regcred"}
	core.Cluster.Spec.InstallServer.RepositoryPullSecretRef = &v1alpha1.LocalObjectReference{Name: "other"}
	conflictOnBoth(t, resolveSite(edge, core), ReasonSiteInstallServerConflict, "spec.installServer.repositoryPullSecretRef", map[string]string{
		"core": "Cluster/core: spec.installServer.repositoryPullSecretRef: install server repository pull secret other differs from regcred of Cluster/edge in site dc1, whose clusters share one install server: set the same repository pull secret on every Cluster of the site, or give this one its own site",
		"edge": "Cluster/edge: spec.installServer.repositoryPullSecretRef: install server repository pull secret regcred differs from other of Cluster/core in site dc1, whose clusters share one install server: set the same repository pull secret on every Cluster of the site, or give this one its own site",
	})
}

func TestConflictsInsideOneClusterAreNotTheSites(t *testing.T) {
	edge, core := twoClusters()
	drawerOf(edge, "d3").Boards[0].NICs[0].MAC = "02:00:00:00:00:01" // m1's, in edge itself
	if ps := resolveSite(edge, core); len(ps) != 0 {
		t.Fatalf("the site repeats a rule of one cluster:\n%s", render(ps))
	}
}

func TestResultWithSiteIsInvalidAndNotDeployable(t *testing.T) {
	edge, core := twoClusters()
	group(core, "workers").Spec.Nodes[0].Name = "m1"
	ps := resolveSite(edge, core)
	res := Resolve(edge)
	with := res.WithSite("edge", ps)
	if with.Valid() || with.Steps.Deployable || len(with.ProblemsFor(KindCluster, "edge")) != 1 {
		t.Fatalf("valid %v deployable %v problems %v", with.Valid(), with.Steps.Deployable, with.Problems)
	}
	if !res.Valid() || !strings.Contains(with.Problems[0].Message, "Cluster/core") {
		t.Fatalf("WithSite changed its receiver or lost the message: %v", with.Problems)
	}
}

// TestResolveSiteDoesNotDependOnTheOrderOfItsMembers: every reconciler of the site sees the
// same problems, whichever cluster it is reconciling.
func TestResolveSiteDoesNotDependOnTheOrderOfItsMembers(t *testing.T) {
	edge, core := twoClusters()
	core.Cluster.Spec.Domain = 3
	group(core, "workers").Spec.Nodes[0].Name = "m1"
	a, b := resolveSite(edge, core), resolveSite(core, edge)
	if render(a) != render(b) {
		t.Fatalf("order matters:\n%s\nvs\n%s", render(a), render(b))
	}
}
