package check

import (
	"context"
	"strings"
	"testing"

	crd "github.com/flarecast/flarecast/config/crd"
	"github.com/flarecast/flarecast/internal/crdvalidate"
	"github.com/flarecast/flarecast/internal/model"
	"github.com/flarecast/flarecast/internal/model/manifest"
)

func run(t *testing.T, files map[string]string) *Report {
	t.Helper()
	v, err := crdvalidate.Load(crd.Bases, "bases")
	if err != nil {
		t.Fatal(err)
	}
	var objs []manifest.Object
	for _, name := range []string{"a.yaml", "b.yaml", "c.yaml"} {
		text, ok := files[name]
		if !ok {
			continue
		}
		o, errs := manifest.Decode(name, strings.NewReader(text))
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		objs = append(objs, o...)
	}
	return Check(context.Background(), objs, v)
}

func wantLines(t *testing.T, r *Report, want ...string) {
	t.Helper()
	var got []string
	for _, f := range r.Findings {
		got = append(got, f.String())
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

const cluster = `apiVersion: flarecast.io/v1alpha1
kind: Cluster
metadata: {name: edge}
spec: {domain: 3}
`

const diskless = `apiVersion: flarecast.io/v1alpha1
kind: NodesGroup
metadata: {name: blades}
spec:
  clusterRef: {name: edge}
  role: NonMasterEligible
  nodeType: Diskless
  os: {name: debian}
  arch: amd64
  requiredFilesystems: [{mountPoint: /data}]
  nodes: [{name: b1, id: 1}]
`

func TestObjectGivenTwiceIsAnError(t *testing.T) {
	r := run(t, map[string]string{"a.yaml": cluster, "b.yaml": cluster})
	wantLines(t, r,
		"a.yaml: Cluster/edge: missing: no NodesGroup names this cluster yet: create one with spec.clusterRef.name: edge",
		"a.yaml: Cluster/edge: spec.machineRefs: missing: no Machine yet: nodes cannot be placed on drawers and deployable archives need one; add the Machines the cluster runs on to spec.machineRefs",
		"a.yaml: Cluster/edge: spec.networkRef: missing: no Network yet: nodes cannot be addressed and deployable archives need one; set spec.networkRef",
		"b.yaml: Cluster/edge: metadata.name: Cluster/edge is given twice (first in a.yaml, document 1): the second would replace the first; rename one",
	)
}

func TestNamespacesAreSeparateModels(t *testing.T) {
	inOther := strings.Replace(diskless, "metadata: {name: blades}", "metadata: {name: blades, namespace: other}", 1)
	r := run(t, map[string]string{"a.yaml": cluster, "b.yaml": inOther})
	if r.Checked != 2 {
		t.Fatalf("checked %d", r.Checked)
	}
	// The group names a Cluster edge, but not one of its namespace: its own rules still hold.
	var lines []string
	for _, f := range r.Findings {
		if f.File == "b.yaml" {
			lines = append(lines, f.String())
		}
	}
	want := []string{
		"b.yaml: NodesGroup/blades: spec.requiredFilesystems: a Diskless group has no local disk to hold file systems: remove requiredFilesystems, or make the group Diskfull or Dataless",
		"b.yaml: NodesGroup/blades: spec.clusterRef: missing: Cluster edge is not in the checked manifests, so the rules across the cluster's groups, Machine and Network were not checked: check it with its Cluster",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("b.yaml findings:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

func TestAGroupOfTheClusterIsResolvedWithIt(t *testing.T) {
	r := run(t, map[string]string{"a.yaml": cluster, "b.yaml": diskless})
	wantLines(t, r,
		"a.yaml: Cluster/edge: the cluster has no master-eligible node, but needs 2 for a master and a vice-master: add nodes to a MasterEligible Diskfull group, or set spec.masterEligiblePolicy: Warn",
		"a.yaml: Cluster/edge: spec.machineRefs: missing: no Machine yet: nodes cannot be placed on drawers and deployable archives need one; add the Machines the cluster runs on to spec.machineRefs",
		"a.yaml: Cluster/edge: spec.networkRef: missing: no Network yet: nodes cannot be addressed and deployable archives need one; set spec.networkRef",
		"b.yaml: NodesGroup/blades: spec.requiredFilesystems: a Diskless group has no local disk to hold file systems: remove requiredFilesystems, or make the group Diskfull or Dataless",
		"b.yaml: NodesGroup/blades: spec.nodes[b1].drawer: missing: node b1 is not placed on a drawer yet: set drawer to shelf/drawer of the cluster's Machine",
	)
	if !r.Failed(false) || r.Count(SeverityError) != 2 || r.Count(SeverityMissing) != 3 {
		t.Fatalf("counts: errors %d missing %d", r.Count(SeverityError), r.Count(SeverityMissing))
	}
}

// A group the server rejects keeps its place in the model (the cluster still counts its two
// master-eligible nodes), and the model adds nothing on it: neither what the server said (ids
// twice) nor what it lacks, since the server keeps no such object to complete.
func TestARejectedObjectIsNotReportedTwice(t *testing.T) {
	master := strings.NewReplacer("name: blades", "name: masters", "role: NonMasterEligible", "role: MasterEligible",
		"nodeType: Diskless", "nodeType: Diskfull", "  requiredFilesystems: [{mountPoint: /data}]\n", "",
		"[{name: b1, id: 1}]", "[{name: m1, id: 1}, {name: m2, id: 1}]").Replace(diskless)
	r := run(t, map[string]string{"a.yaml": cluster, "b.yaml": master})
	wantLines(t, r,
		"a.yaml: Cluster/edge: spec.machineRefs: missing: no Machine yet: nodes cannot be placed on drawers and deployable archives need one; add the Machines the cluster runs on to spec.machineRefs",
		"a.yaml: Cluster/edge: spec.networkRef: missing: no Network yet: nodes cannot be addressed and deployable archives need one; set spec.networkRef",
		"b.yaml: NodesGroup/masters: spec.nodes[m2].id: node id 1 is already the id of node m1 of this group: give each node of the cluster its own id",
	)
}

func TestAReferenceToAnUnreadableObjectIsNotMissing(t *testing.T) {
	withRef := strings.Replace(cluster, "spec: {domain: 3}", "spec: {domain: 3, machineRefs: [{name: site}]}", 1)
	machine := "apiVersion: flarecast.io/v1alpha1\nkind: Machine\nmetadata: {name: site}\nspec: {shelves: 3}\n"
	r := run(t, map[string]string{"a.yaml": withRef, "b.yaml": machine})
	for _, f := range r.Findings {
		if f.Field == "spec.machineRefs[site]" {
			t.Errorf("a Machine the server rejects is reported as not found: %s", f)
		}
	}
	if r.Count(SeverityError) == 0 {
		t.Fatal("the Machine's schema error is not reported")
	}
}

// Each finding names its rule: the model's reason for what the model finds, this package's for
// what admission finds.
func TestFindingsNameTheirRule(t *testing.T) {
	unknown := "apiVersion: flarecast.io/v1alpha1\nkind: Shelf\nmetadata: {name: s}\n"
	r := run(t, map[string]string{"a.yaml": cluster, "b.yaml": diskless + "---\n" + cluster, "c.yaml": unknown})
	var got []string
	for _, f := range r.Findings {
		got = append(got, f.File+" "+string(f.Reason))
	}
	want := []string{
		"a.yaml " + string(model.ReasonNotEnoughMasterEligibleNodes),
		"a.yaml " + string(model.ReasonMachineRefMissing),
		"a.yaml " + string(model.ReasonNetworkRefMissing),
		"b.yaml " + string(ReasonDuplicateObject),
		"b.yaml " + string(model.ReasonFilesystemsOnDiskless),
		"b.yaml " + string(model.ReasonNodeNotPlaced),
		"c.yaml " + string(ReasonUnknownKind),
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("reasons:\n%s\nwant:\n%s\nfindings: %v", strings.Join(got, "\n"), strings.Join(want, "\n"), r.Findings)
	}
}

// siteCluster is a Cluster of site dc1 with one Diskless node on its own one-drawer Machine,
// whose NIC has the given MAC.
func siteCluster(name string, domain int, mac string) string {
	return strings.NewReplacer("NAME", name, "DOMAIN", string(rune('0'+domain)), "MAC", mac).Replace(`apiVersion: flarecast.io/v1alpha1
kind: Cluster
metadata: {name: NAME}
spec: {domain: DOMAIN, machineRefs: [{name: NAME-rack}], masterEligiblePolicy: Warn, installServer: {site: dc1}}
---
apiVersion: flarecast.io/v1alpha1
kind: Machine
metadata: {name: NAME-rack}
spec:
  shelves:
    - name: shelf0
      switches: [{name: sw0, ports: 4}]
      drawers:
        - name: d1
          boards: [{name: b0, arch: amd64, nics: [{name: eth0, mac: "MAC", link: {switch: sw0, port: 1}}]}]
---
apiVersion: flarecast.io/v1alpha1
kind: NodesGroup
metadata: {name: NAME-blades}
spec:
  clusterRef: {name: NAME}
  role: NonMasterEligible
  nodeType: Diskless
  os: {name: debian}
  arch: amd64
  nodes: [{name: NAME-1, id: 1, drawer: shelf0/d1}]
`)
}

// TestTheClustersOfASiteAreCheckedTogether: model check runs the rules across the clusters
// of a site, as the server does, and files each conflict on every Cluster involved.
func TestTheClustersOfASiteAreCheckedTogether(t *testing.T) {
	r := run(t, map[string]string{"a.yaml": siteCluster("core", 1, "02:00:00:00:00:01"), "b.yaml": siteCluster("edge", 2, "02:00:00:00:00:01")})
	var got []string
	for _, f := range r.Findings {
		if f.Reason == model.ReasonSiteMACConflict {
			got = append(got, f.String())
		}
	}
	want := []string{
		"a.yaml: Cluster/core: spec.installServer.site: MAC 02:00:00:00:00:01 of node core-1 is also node edge-1 of Cluster/edge in site dc1: give each NIC its own MAC",
		"b.yaml: Cluster/edge: spec.installServer.site: MAC 02:00:00:00:00:01 of node edge-1 is also node core-1 of Cluster/core in site dc1: give each NIC its own MAC",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("site findings:\n%s\nwant:\n%s\nall: %v", strings.Join(got, "\n"), strings.Join(want, "\n"), r.Findings)
	}
	if !r.Failed(false) {
		t.Fatal("a site conflict does not fail the check")
	}
}
