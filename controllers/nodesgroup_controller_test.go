package controllers_test

import (
	"context"
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
)

// TestNodePhasesFromAnotherWriterSurviveAndAreCounted plays the install server: it writes node
// phases into a group's status with server-side apply under its own field manager. The
// controller's own status patches must leave them alone (they merge per node, by name), the
// group must count its Running nodes, and the Cluster must count nodes by phase.
func TestNodePhasesFromAnotherWriterSurviveAndAreCounted(t *testing.T) {
	ns := newNamespace(t)
	createAll(t, ns, readManifests(t, sampleSite...))
	eventually(t, "masters reconciled", func() error {
		g := get(t, ns, "masters", &fcv1.NodesGroup{})
		if len(g.Status.Nodes) != 2 {
			return fmt.Errorf("status nodes %v", g.Status.Nodes)
		}
		return nil
	})

	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(fcv1.GroupVersion.WithKind("NodesGroup"))
	u.SetNamespace(ns)
	u.SetName("masters")
	u.Object["status"] = map[string]any{"nodes": []any{
		map[string]any{"name": "m1", "phase": "Running", "installedDigest": "sha256:" + fmt.Sprintf("%064d", 1)},
		map[string]any{"name": "m2", "phase": "Installing"},
	}}
	if err := k8s.Status().Apply(context.Background(), client.ApplyConfigurationFromUnstructured(u), client.FieldOwner("flarecast-installserver")); err != nil {
		t.Fatalf("install server's apply: %v", err)
	}

	eventually(t, "cluster counts nodes by phase", func() error {
		cl := get(t, ns, "edge", &fcv1.Cluster{})
		want := map[string]int32{"Running": 1, "Installing": 1, "Pending": 6}
		if fmt.Sprint(cl.Status.NodesByPhase) != fmt.Sprint(want) {
			return fmt.Errorf("nodesByPhase %v, want %v", cl.Status.NodesByPhase, want)
		}
		return nil
	})
	eventually(t, "group counts its running node", func() error {
		g := get(t, ns, "masters", &fcv1.NodesGroup{})
		if g.Status.Running != 1 {
			return fmt.Errorf("running %d", g.Status.Running)
		}
		return nil
	})

	// A spec change makes the controller apply the group's status again: the phases stay.
	update(t, &fcv1.NodesGroup{ObjectMeta: objMeta(ns, "masters")}, func(o client.Object) {
		g := o.(*fcv1.NodesGroup)
		g.Spec.Software.Packages = append(g.Spec.Software.Packages, fcv1.Package{Name: "tcpdump"})
	})
	eventually(t, "phases survive the controller's next status patch", func() error {
		g := get(t, ns, "masters", &fcv1.NodesGroup{})
		if g.Status.ObservedGeneration != g.Generation {
			return fmt.Errorf("status at generation %d, object at %d", g.Status.ObservedGeneration, g.Generation)
		}
		got := map[string]fcv1.NodePhase{}
		for _, n := range g.Status.Nodes {
			got[n.Name] = n.Phase
		}
		if got["m1"] != fcv1.NodeRunning || got["m2"] != fcv1.NodeInstalling {
			return fmt.Errorf("phases %v", got)
		}
		return nil
	})
}

// TestRunningCountsOnlyTheGroupsNodes removes a Running node from a group: the install
// server's entry for it stays in the status (it owns that entry), but the group no longer has
// the node, so it must not count it, as the Cluster does not.
func TestRunningCountsOnlyTheGroupsNodes(t *testing.T) {
	ns := newNamespace(t)
	createAll(t, ns, readManifests(t, sampleSite...))
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(fcv1.GroupVersion.WithKind("NodesGroup"))
	u.SetNamespace(ns)
	u.SetName("masters")
	u.Object["status"] = map[string]any{"nodes": []any{
		map[string]any{"name": "m1", "phase": "Running"},
		map[string]any{"name": "m2", "phase": "Running"},
	}}
	if err := k8s.Status().Apply(context.Background(), client.ApplyConfigurationFromUnstructured(u), client.FieldOwner("flarecast-installserver")); err != nil {
		t.Fatalf("install server's apply: %v", err)
	}
	eventually(t, "group counts its running nodes", func() error {
		if g := get(t, ns, "masters", &fcv1.NodesGroup{}); g.Status.Running != 2 {
			return fmt.Errorf("running %d", g.Status.Running)
		}
		return nil
	})
	update(t, &fcv1.NodesGroup{ObjectMeta: objMeta(ns, "masters")}, func(o client.Object) {
		g := o.(*fcv1.NodesGroup)
		g.Spec.Nodes = g.Spec.Nodes[1:]
	})
	eventually(t, "the removed node is not counted", func() error {
		g := get(t, ns, "masters", &fcv1.NodesGroup{})
		if g.Status.ObservedGeneration != g.Generation || g.Status.Total != 1 || g.Status.Running != 1 {
			return fmt.Errorf("generation %d/%d, total %d, running %d", g.Status.ObservedGeneration, g.Generation, g.Status.Total, g.Status.Running)
		}
		return nil
	})
	eventually(t, "the cluster agrees", func() error {
		cl := get(t, ns, "edge", &fcv1.Cluster{})
		if n := cl.Status.NodesByPhase["Running"]; n != 1 {
			return fmt.Errorf("cluster counts %d running", n)
		}
		return nil
	})
}
