package controllers_test

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/internal/model"
)

// TestSiteConflictsShowOnEveryClusterOfTheSite puts the lab cluster in the edge cluster's site
// (edge-dc), where they share one install server, and follows each way a conflict comes and
// goes: the lab's Machine reuses two MACs of edge-rack1 (both clusters turn invalid, each
// naming the other's node), the lab's Machine is fixed (both recover: a Machine of one
// cluster re-checks the other), a lab node takes the name m1 (a group of one cluster re-checks
// the other), and the lab leaves for a site of its own (the cluster it left recovers).
func TestSiteConflictsShowOnEveryClusterOfTheSite(t *testing.T) {
	ns := newNamespace(t)
	createAll(t, ns, readManifests(t, sampleSite...))
	eventually(t, "edge valid", clusterCondition(ns, "edge", fcv1.ConditionValid, metav1.ConditionTrue, ""))

	lab := readManifests(t, "config/samples/partial/machine.yaml", "config/samples/partial/cluster.yaml")
	for _, o := range lab {
		if cl, ok := o.(*fcv1.Cluster); ok {
			cl.Spec.InstallServer.Site = "edge-dc"
		}
	}
	createAll(t, ns, lab)
	macConflict := string(model.ReasonSiteMACConflict)
	eventually(t, "edge names the lab's node", clusterConditionReason(ns, "edge", fcv1.ConditionValid, metav1.ConditionFalse, macConflict,
		"Cluster/edge: spec.installServer.site: MAC 52:54:00:fc:00:10 of node m1 is also node lab1 of Cluster/lab in site edge-dc: give each NIC its own MAC"))
	eventually(t, "lab names edge's node", clusterConditionReason(ns, "lab", fcv1.ConditionValid, metav1.ConditionFalse, macConflict,
		"Cluster/lab: spec.installServer.site: MAC 52:54:00:fc:00:10 of node lab1 is also node m1 of Cluster/edge in site edge-dc: give each NIC its own MAC"))

	update(t, &fcv1.Machine{ObjectMeta: objMeta(ns, "lab-site")}, func(o client.Object) {
		for i := range o.(*fcv1.Machine).Spec.Shelves[0].Drawers {
			for j := range o.(*fcv1.Machine).Spec.Shelves[0].Drawers[i].Boards[0].NICs {
				nic := &o.(*fcv1.Machine).Spec.Shelves[0].Drawers[i].Boards[0].NICs[j]
				nic.MAC = "52:54:00:1a" + nic.MAC[len("52:54:00:fc"):]
			}
		}
	})
	eventually(t, "edge valid once the lab's MACs are its own", clusterCondition(ns, "edge", fcv1.ConditionValid, metav1.ConditionTrue, ""))
	eventually(t, "lab valid too", clusterCondition(ns, "lab", fcv1.ConditionValid, metav1.ConditionTrue, ""))

	update(t, &fcv1.NodesGroup{ObjectMeta: objMeta(ns, "lab-masters")}, func(o client.Object) {
		o.(*fcv1.NodesGroup).Spec.Nodes[0].Name = "m1"
	})
	eventually(t, "edge sees the lab's m1", clusterConditionReason(ns, "edge", fcv1.ConditionValid, metav1.ConditionFalse, string(model.ReasonSiteNodeNameConflict),
		"Cluster/edge: spec.installServer.site: node name m1 of NodesGroup masters is also the name of a node of NodesGroup lab-masters of Cluster/lab in site edge-dc"))

	update(t, &fcv1.Cluster{ObjectMeta: objMeta(ns, "lab")}, func(o client.Object) { o.(*fcv1.Cluster).Spec.InstallServer.Site = "lab-dc" })
	eventually(t, "edge valid once the lab has its own install server", clusterCondition(ns, "edge", fcv1.ConditionValid, metav1.ConditionTrue, ""))
	eventually(t, "lab valid in its own site", clusterCondition(ns, "lab", fcv1.ConditionValid, metav1.ConditionTrue, ""))
}

// TestSiteInstallServerSettingsAgree: two clusters of one site ask their install server for
// different interfaces; both say so, and agree again once one follows the other.
func TestSiteInstallServerSettingsAgree(t *testing.T) {
	ns := newNamespace(t)
	createAll(t, ns, readManifests(t, sampleSite...))
	lab := readManifests(t, "config/samples/partial/cluster.yaml")
	for _, o := range lab {
		if cl, ok := o.(*fcv1.Cluster); ok {
			cl.Spec.InstallServer = fcv1.InstallServerSpec{Site: "edge-dc", Interface: "eno2"}
			cl.Spec.MachineRefs = nil // no nodes placed: only the settings can conflict
		}
	}
	createAll(t, ns, lab)
	update(t, &fcv1.Cluster{ObjectMeta: objMeta(ns, "edge")}, func(o client.Object) { o.(*fcv1.Cluster).Spec.InstallServer.Interface = "eno1" })
	reason := string(model.ReasonSiteInstallServerConflict)
	eventually(t, "edge names the lab's interface", clusterConditionReason(ns, "edge", fcv1.ConditionValid, metav1.ConditionFalse, reason,
		"Cluster/edge: spec.installServer.interface: install server interface eno1 differs from eno2 of Cluster/lab in site edge-dc"))
	eventually(t, "lab names edge's", clusterConditionReason(ns, "lab", fcv1.ConditionValid, metav1.ConditionFalse, reason,
		"Cluster/lab: spec.installServer.interface: install server interface eno2 differs from eno1 of Cluster/edge in site edge-dc"))
	update(t, &fcv1.Cluster{ObjectMeta: objMeta(ns, "lab")}, func(o client.Object) { o.(*fcv1.Cluster).Spec.InstallServer.Interface = "eno1" })
	eventually(t, "edge valid", clusterCondition(ns, "edge", fcv1.ConditionValid, metav1.ConditionTrue, ""))
	eventually(t, "lab valid", clusterCondition(ns, "lab", fcv1.ConditionValid, metav1.ConditionTrue, ""))
}
