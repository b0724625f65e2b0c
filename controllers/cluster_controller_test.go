package controllers_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/internal/model"
)

func get[T client.Object](t *testing.T, ns, name string, obj T) T {
	t.Helper()
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, obj); err != nil {
		t.Fatalf("get %T %s: %v", obj, name, err)
	}
	return obj
}

func clusterCondition(ns, name, typ string, status metav1.ConditionStatus, contains string) func() error {
	return clusterConditionReason(ns, name, typ, status, "", contains)
}

// clusterConditionReason is clusterCondition that also wants a reason.
func clusterConditionReason(ns, name, typ string, status metav1.ConditionStatus, reason, contains string) func() error {
	return func() error {
		var cl fcv1.Cluster
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &cl); err != nil {
			return err
		}
		return wantCondition(&cl, cl.Status.Conditions, typ, status, reason, contains)
	}
}

func TestSampleSiteIsCompleteAndValid(t *testing.T) {
	ns := newNamespace(t)
	createAll(t, ns, readManifests(t, sampleSite...))

	eventually(t, "Cluster edge ModelComplete", clusterCondition(ns, "edge", fcv1.ConditionModelComplete, metav1.ConditionTrue, ""))
	eventually(t, "Cluster edge Valid", clusterCondition(ns, "edge", fcv1.ConditionValid, metav1.ConditionTrue, ""))
	eventually(t, "Cluster edge status", func() error {
		cl := get(t, ns, "edge", &fcv1.Cluster{})
		want := fcv1.NodeCounts{Total: 8, Placed: 8, Addressed: 8, MasterEligible: 2}
		if cl.Status.Nodes != want {
			return fmt.Errorf("nodes %+v, want %+v", cl.Status.Nodes, want)
		}
		if got := strings.Join(cl.Status.NodesGroups, ","); got != "dataless,diskless,masters" {
			return fmt.Errorf("nodesGroups %s", got)
		}
		if strings.Join(cl.Status.Machines, ",") != "edge-rack1,edge-rack2" || cl.Status.Network != "edge-net" {
			return fmt.Errorf("machines %q network %q", cl.Status.Machines, cl.Status.Network)
		}
		return nil
	})
	for _, g := range []string{"masters", "dataless", "diskless"} {
		eventually(t, "NodesGroup "+g+" Valid", func() error {
			ng := get(t, ns, g, &fcv1.NodesGroup{})
			if int(ng.Status.Total) != len(ng.Spec.Nodes) || len(ng.Status.Nodes) != len(ng.Spec.Nodes) {
				return fmt.Errorf("status has %d/%d nodes, spec %d", ng.Status.Total, len(ng.Status.Nodes), len(ng.Spec.Nodes))
			}
			return wantCondition(ng, ng.Status.Conditions, fcv1.ConditionValid, metav1.ConditionTrue, fcv1.ReasonValid, "")
		})
	}
	for _, rack := range []string{"edge-rack1", "edge-rack2"} {
		eventually(t, "Machine "+rack+" in use and valid", func() error {
			m := get(t, ns, rack, &fcv1.Machine{})
			if strings.Join(m.Status.UsedBy, ",") != "edge" || m.Status.Drawers != 4 {
				return fmt.Errorf("usedBy %v drawers %d", m.Status.UsedBy, m.Status.Drawers)
			}
			if err := wantCondition(m, m.Status.Conditions, fcv1.ConditionInUse, metav1.ConditionTrue, fcv1.ReasonReferenced, "edge"); err != nil {
				return err
			}
			return wantCondition(m, m.Status.Conditions, fcv1.ConditionValid, metav1.ConditionTrue, "", "")
		})
	}
	eventually(t, "Network edge-net in use and valid", func() error {
		n := get(t, ns, "edge-net", &fcv1.Network{})
		if strings.Join(n.Status.UsedBy, ",") != "edge" {
			return fmt.Errorf("usedBy %v", n.Status.UsedBy)
		}
		return wantCondition(n, n.Status.Conditions, fcv1.ConditionValid, metav1.ConditionTrue, "", "")
	})
}

func TestPartialModelCompletesWhenNetworkIsApplied(t *testing.T) {
	ns := newNamespace(t)
	createAll(t, ns, readManifests(t, "config/samples/partial/machine.yaml", "config/samples/partial/cluster.yaml"))

	eventually(t, "partial lab model names the missing Network", clusterConditionReason(ns, "lab", fcv1.ConditionModelComplete, metav1.ConditionFalse, string(model.ReasonNetworkNotFound), "lab-net"))
	eventually(t, "partial lab model is valid", clusterCondition(ns, "lab", fcv1.ConditionValid, metav1.ConditionTrue, ""))

	createAll(t, ns, readManifests(t, "config/samples/partial-completion/network.yaml"))
	eventually(t, "lab model completed by the Network", clusterCondition(ns, "lab", fcv1.ConditionModelComplete, metav1.ConditionTrue, ""))
	eventually(t, "lab nodes addressed", func() error {
		cl := get(t, ns, "lab", &fcv1.Cluster{})
		if cl.Status.Nodes.Addressed != 2 {
			return fmt.Errorf("addressed %d, want 2", cl.Status.Nodes.Addressed)
		}
		return nil
	})
}

func TestMachineChangeReevaluatesClusterThroughWatch(t *testing.T) {
	ns := newNamespace(t)
	createAll(t, ns, readManifests(t, sampleSite...))
	eventually(t, "edge valid", clusterCondition(ns, "edge", fcv1.ConditionValid, metav1.ConditionTrue, ""))

	// Take drawer edge-rack2/shelf0/d4 out of its Machine: node n8 runs there.
	m := &fcv1.Machine{ObjectMeta: objMeta(ns, "edge-rack2")}
	var saved []fcv1.Drawer
	update(t, m, func(o client.Object) {
		shelf := &o.(*fcv1.Machine).Spec.Shelves[0]
		saved = shelf.Drawers
		shelf.Drawers = saved[:3]
	})
	eventually(t, "edge invalid: n8 lost its drawer", clusterConditionReason(ns, "edge", fcv1.ConditionValid, metav1.ConditionFalse, string(model.ReasonDrawerNotFound), "drawer edge-rack2/shelf0/d4 is not in Machine edge-rack2"))
	eventually(t, "diskless group names n8", func() error {
		g := get(t, ns, "diskless", &fcv1.NodesGroup{})
		for _, n := range g.Status.Nodes {
			if n.Name == "n8" && len(n.Problems) > 0 {
				return wantCondition(g, g.Status.Conditions, fcv1.ConditionValid, metav1.ConditionFalse, string(model.ReasonDrawerNotFound), "n8")
			}
		}
		return fmt.Errorf("no problem recorded on node n8: %+v", g.Status.Nodes)
	})

	update(t, m, func(o client.Object) { o.(*fcv1.Machine).Spec.Shelves[0].Drawers = saved })
	eventually(t, "edge valid again", clusterCondition(ns, "edge", fcv1.ConditionValid, metav1.ConditionTrue, ""))
}

// TestAHeldNetworkAndMachineStayInTheModel: deleting a Network and a Machine that a Cluster
// uses waits on the in-use finalizer; meanwhile they still exist and the model keeps them, with
// a warning naming what holds them, so the built deployables stay Ready. Once the Cluster lets
// the Network go, it is deleted.
func TestAHeldNetworkAndMachineStayInTheModel(t *testing.T) {
	ns := newNamespace(t)
	sampleSiteBuildable(t, ns)
	for _, g := range sampleGroups {
		archiveState(t, ns, "edge-"+g, fcv1.ArchiveReady, metav1.ConditionTrue, "Built", "")
	}
	eventually(t, "network guarded", func() error {
		n := get(t, ns, "edge-net", &fcv1.Network{})
		for _, f := range n.Finalizers {
			if f == "flarecast.io/in-use" {
				return nil
			}
		}
		return fmt.Errorf("finalizers %v", n.Finalizers)
	})

	for _, o := range []client.Object{&fcv1.Network{ObjectMeta: objMeta(ns, "edge-net")}, &fcv1.Machine{ObjectMeta: objMeta(ns, "edge-rack2")}} {
		if err := k8s.Delete(context.Background(), o); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "deletion blocked and explained", func() error {
		n := get(t, ns, "edge-net", &fcv1.Network{})
		if n.DeletionTimestamp.IsZero() {
			return fmt.Errorf("no deletion timestamp")
		}
		return wantCondition(n, n.Status.Conditions, fcv1.ConditionInUse, metav1.ConditionTrue, fcv1.ReasonDeletionBlocked, "spec.networkRef")
	})
	eventually(t, "event says why", func() error {
		var evs eventsv1.EventList
		if err := k8s.List(context.Background(), &evs, client.InNamespace(ns)); err != nil {
			return err
		}
		for _, e := range evs.Items {
			if e.Regarding.Name == "edge-net" && e.Reason == fcv1.ReasonDeletionBlocked && strings.Contains(e.Note, "Cluster edge") {
				return nil
			}
		}
		return fmt.Errorf("no DeletionBlocked event for edge-net among %d events", len(evs.Items))
	})
	eventually(t, "cluster warns that the Network is going", clusterConditionReason(ns, "edge", fcv1.ConditionValid, metav1.ConditionTrue, fcv1.ReasonValid,
		"Cluster/edge: spec.networkRef: Network edge-net is being deleted, held by finalizer flarecast.io/in-use while Cluster edge references it"))
	eventually(t, "and that the Machine is going", clusterConditionReason(ns, "edge", fcv1.ConditionValid, metav1.ConditionTrue, fcv1.ReasonValid,
		"Cluster/edge: spec.machineRefs[edge-rack2]: Machine edge-rack2 is being deleted, held by finalizer flarecast.io/in-use"))
	eventually(t, "the model is still complete", clusterCondition(ns, "edge", fcv1.ConditionModelComplete, metav1.ConditionTrue, ""))
	// The deployables are planned again on the Network's change: they stay built.
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		for _, g := range sampleGroups {
			fa := get(t, ns, "edge-"+g, &fcv1.FlashArchive{})
			if err := wantCondition(fa, fa.Status.Conditions, fcv1.ConditionReady, metav1.ConditionTrue, "Built", ""); err != nil || fa.Status.Phase != fcv1.ArchiveReady {
				t.Fatalf("deployable %s disturbed by a held deletion: %s %v", fa.Name, fa.Status.Phase, err)
			}
		}
	}

	update(t, &fcv1.Cluster{ObjectMeta: objMeta(ns, "edge")}, func(o client.Object) { o.(*fcv1.Cluster).Spec.NetworkRef = nil })
	eventually(t, "network deleted once unreferenced", func() error {
		err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "edge-net"}, &fcv1.Network{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("still there (err %v)", err)
	})
}
