package controllers_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
)

// reportNodes writes what an install server reports of a group's nodes (phase and installed
// digest), with server-side apply under the install server's own field manager.
func reportNodes(t *testing.T, ns, group string, nodes map[string][2]string) {
	t.Helper()
	var entries []any
	for name, v := range nodes {
		entries = append(entries, map[string]any{"name": name, "phase": v[0], "installedDigest": v[1]})
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": fcv1.GroupVersion.String(), "kind": "NodesGroup",
		"metadata": map[string]any{"namespace": ns, "name": group},
		"status":   map[string]any{"nodes": entries},
	}}
	if err := k8s.Status().Apply(context.Background(), client.ApplyConfigurationFromUnstructured(u), client.FieldOwner("flarecast-installserver"), client.ForceOwnership); err != nil {
		t.Fatalf("report nodes of %s: %v", group, err)
	}
}

// When nodes run another archive than their group's deployable, the Cluster's rollout tells
// as many of them to reinstall as maxUnavailable allows, one master-eligible node at a time,
// says why the others wait, and Deployed turns True once every node runs its deployable.
func TestTheClusterRollsOutChangedDeployablesWithinTheirBounds(t *testing.T) {
	ns := newNamespace(t)
	sampleSiteBuildable(t, ns)
	digests := map[string]string{}
	for _, g := range sampleGroups {
		digests[g] = archiveState(t, ns, "edge-"+g, fcv1.ArchiveReady, metav1.ConditionTrue, "Built", "").Status.Digest
	}
	cluster := func(what string, check func(cl *fcv1.Cluster) error) {
		t.Helper()
		eventually(t, what, func() error { return check(get(t, ns, "edge", &fcv1.Cluster{})) })
	}
	cluster("Deployed False before any node is reported", func(cl *fcv1.Cluster) error {
		return wantCondition(cl, cl.Status.Conditions, fcv1.ConditionDeployed, metav1.ConditionFalse, "NodesNotDeployed", "8 of 8 nodes do not yet run their group's deployable archive")
	})

	old := "sha256:" + strings.Repeat("0", 64)
	reportNodes(t, ns, "masters", map[string][2]string{"m1": {"Running", old}, "m2": {"Running", old}})
	reportNodes(t, ns, "diskless", map[string][2]string{"n5": {"Running", old}, "n6": {"Running", old}, "n7": {"Running", old}, "n8": {"Running", old}})
	reportNodes(t, ns, "dataless", map[string][2]string{"dl3": {"Running", digests["dataless"]}, "dl4": {"Running", digests["dataless"]}})
	want := &fcv1.RolloutStatus{Reinstall: []string{"diskless/n5", "masters/m1"}, Held: []fcv1.HeldNode{
		{Node: "diskless/n6", Reason: "MaxUnavailable", Message: "waits: 1 of group diskless's nodes are down or reinstalling, its maxUnavailable is 1"},
		{Node: "diskless/n7", Reason: "MaxUnavailable", Message: "waits: 1 of group diskless's nodes are down or reinstalling, its maxUnavailable is 1"},
		{Node: "diskless/n8", Reason: "MaxUnavailable", Message: "waits: 1 of group diskless's nodes are down or reinstalling, its maxUnavailable is 1"},
		{Node: "masters/m2", Reason: "MaxUnavailable", Message: "waits: 1 of group masters's nodes are down or reinstalling, its maxUnavailable is 1"},
	}}
	cluster("the first step of the rollout", func(cl *fcv1.Cluster) error {
		if !reflect.DeepEqual(cl.Status.Rollout, want) {
			return fmt.Errorf("rollout %+v", cl.Status.Rollout)
		}
		// dataless runs its deployable already: none of its nodes is touched.
		return wantCondition(cl, cl.Status.Conditions, fcv1.ConditionDeployed, metav1.ConditionFalse, "NodesNotDeployed", "6 of 8 nodes")
	})

	// m1 goes down to reinstall and fails: the rollout does not take m2 (the other
	// master-eligible node), and Deployed says which node failed.
	reportNodes(t, ns, "masters", map[string][2]string{"m1": {"Failed", old}, "m2": {"Running", old}})
	cluster("a failed master-eligible node holds the other", func(cl *fcv1.Cluster) error {
		if r := cl.Status.Rollout; r == nil || !reflect.DeepEqual(r.Reinstall, []string{"diskless/n5"}) {
			return fmt.Errorf("rollout %+v", r)
		}
		return wantCondition(cl, cl.Status.Conditions, fcv1.ConditionDeployed, metav1.ConditionFalse, "NodesFailed", "1 of 8 nodes failed (masters/m1)")
	})

	// Every node comes back on its group's deployable.
	reportNodes(t, ns, "masters", map[string][2]string{"m1": {"Running", digests["masters"]}, "m2": {"Running", digests["masters"]}})
	reportNodes(t, ns, "diskless", map[string][2]string{"n5": {"Running", digests["diskless"]}, "n6": {"Running", digests["diskless"]},
		"n7": {"Running", digests["diskless"]}, "n8": {"Running", digests["diskless"]}})
	cluster("Deployed", func(cl *fcv1.Cluster) error {
		if cl.Status.Rollout != nil {
			return fmt.Errorf("rollout %+v", cl.Status.Rollout)
		}
		return wantCondition(cl, cl.Status.Conditions, fcv1.ConditionDeployed, metav1.ConditionTrue, "AllNodesRunning", "all 8 nodes run their group's deployable archive")
	})
}
