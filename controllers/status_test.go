package controllers_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/controllers"
	"github.com/flarecast/flarecast/internal/cli"
	"github.com/flarecast/flarecast/internal/modelsource"
)

// restricted is a client of the API server as a user that the namespace's RBAC lets do
// only what rules say: a reconciler running as it meets the server's refusals.
func restricted(t *testing.T, ns, user string, rules ...rbacv1.PolicyRule) client.Client {
	t.Helper()
	ctx := context.Background()
	u, err := testEnv.AddUser(envtest.User{Name: user}, nil)
	if err != nil {
		t.Fatal(err)
	}
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: user}, Rules: rules}
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: user},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: user},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}}}
	for _, o := range []client.Object{role, binding} {
		if err := k8s.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	c, err := client.New(u.Config(), client.Options{Scheme: cli.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func allow(resource string, verbs ...string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{APIGroups: []string{fcv1.GroupVersion.Group}, Resources: []string{resource}, Verbs: verbs}
}

// TestAReadTheServerRefusesEndsInACondition: each model reconciler, running as a user the
// server refuses a read it needs, records the refusal on the object a person looks at: the
// condition the failed step decides goes Unknown with the server's reason (Forbidden) and
// its message, and the reconcile returns the error (to be retried).
func TestAReadTheServerRefusesEndsInACondition(t *testing.T) {
	ns := newNamespace(t)
	createAll(t, ns, quietSite(t))
	eventually(t, "edge valid", clusterCondition(ns, "edge", fcv1.ConditionValid, metav1.ConditionTrue, ""))
	eventually(t, "edge-rack1 in use", func() error {
		m := get(t, ns, "edge-rack1", &fcv1.Machine{})
		return wantCondition(m, m.Status.Conditions, fcv1.ConditionInUse, metav1.ConditionTrue, "", "")
	})
	eventually(t, "edge-net in use", func() error {
		n := get(t, ns, "edge-net", &fcv1.Network{})
		return wantCondition(n, n.Status.Conditions, fcv1.ConditionInUse, metav1.ConditionTrue, "", "")
	})

	cases := []struct {
		name, kind, object, condition, says string
		rules                               []rbacv1.PolicyRule
		reconciler                          func(client.Client) interface {
			Reconcile(context.Context, ctrl.Request) (ctrl.Result, error)
		}
	}{{
		name: "cluster-cannot-list-groups", kind: "Cluster", object: "edge", condition: fcv1.ConditionModelComplete,
		says:  `list NodesGroups of Cluster edge: nodesgroups.flarecast.io is forbidden`,
		rules: []rbacv1.PolicyRule{allow("clusters", "get"), allow("clusters/status", "patch")},
		reconciler: func(c client.Client) interface {
			Reconcile(context.Context, ctrl.Request) (ctrl.Result, error)
		} {
			return &controllers.ClusterReconciler{Client: c, Models: modelsource.New(c)}
		},
	}, {
		name: "group-cannot-get-cluster", kind: "NodesGroup", object: "masters", condition: fcv1.ConditionValid,
		says:  `get Cluster edge: clusters.flarecast.io "edge" is forbidden`,
		rules: []rbacv1.PolicyRule{allow("nodesgroups", "get"), allow("nodesgroups/status", "patch")},
		reconciler: func(c client.Client) interface {
			Reconcile(context.Context, ctrl.Request) (ctrl.Result, error)
		} {
			return &controllers.NodesGroupReconciler{Client: c, Models: modelsource.New(c)}
		},
	}, {
		name: "machine-cannot-list-clusters", kind: "Machine", object: "edge-rack1", condition: fcv1.ConditionInUse,
		says:  `list Clusters using Machine edge-rack1: clusters.flarecast.io is forbidden`,
		rules: []rbacv1.PolicyRule{allow("machines", "get", "update"), allow("machines/status", "patch")},
		reconciler: func(c client.Client) interface {
			Reconcile(context.Context, ctrl.Request) (ctrl.Result, error)
		} {
			return &controllers.MachineReconciler{Client: c, Models: modelsource.New(c)}
		},
	}, {
		name: "network-cannot-list-clusters", kind: "Network", object: "edge-net", condition: fcv1.ConditionInUse,
		says:  `list Clusters using Network edge-net: clusters.flarecast.io is forbidden`,
		rules: []rbacv1.PolicyRule{allow("networks", "get", "update"), allow("networks/status", "patch")},
		reconciler: func(c client.Client) interface {
			Reconcile(context.Context, ctrl.Request) (ctrl.Result, error)
		} {
			return &controllers.NetworkReconciler{Client: c, Models: modelsource.New(c)}
		},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := restricted(t, ns, tc.name, tc.rules...)
			_, err := tc.reconciler(c).Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKey{Namespace: ns, Name: tc.object}})
			if err == nil || !strings.Contains(err.Error(), "forbidden") {
				t.Fatalf("reconcile as a user refused a read returned %v, want the server's refusal", err)
			}
			obj := newOfKind(tc.kind)
			if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: tc.object}, obj); err != nil {
				t.Fatal(err)
			}
			if err := wantCondition(obj, conditionsOf(obj), tc.condition, metav1.ConditionUnknown, "Forbidden", tc.says); err != nil {
				t.Fatalf("%s %s: %v", tc.kind, tc.object, err)
			}
		})
	}
}

// statusWrites is how many times the API server was asked to write the status of a kind
// (resource: nodesgroups, clusters…), from its own request metrics.
func statusWrites(t *testing.T, resource string) float64 {
	t.Helper()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := cs.RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, m := range families["apiserver_request_total"].GetMetric() {
		l := labelsOf(m)
		if l["resource"] == resource && l["subresource"] == "status" && l["group"] == fcv1.GroupVersion.Group &&
			(l["verb"] == "APPLY" || l["verb"] == "PATCH" || l["verb"] == "UPDATE") {
			n += m.GetCounter().GetValue()
		}
	}
	return n
}

func labelsOf(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// quietSite is the sample site without archives: once resolved, nothing in it moves (no
// build, no deployable), so what a test sees is what it did.
func quietSite(t *testing.T) []client.Object {
	objs := readManifests(t, sampleSite[:4]...)
	for _, o := range objs {
		if g, ok := o.(*fcv1.NodesGroup); ok {
			g.Spec.ArchiveRef = nil
		}
	}
	return objs
}

// reconciles is how many reconciles a controller of the suite's manager has run.
func reconciles(t *testing.T, controller string) float64 {
	t.Helper()
	families, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, f := range families {
		if f.GetName() == "controller_runtime_reconcile_total" {
			for _, m := range f.GetMetric() {
				if labelsOf(m)["controller"] == controller {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return n
}

// TestAReconcileWithNothingToWriteMakesNoCall: a change to a Machine wakes every group of
// the Cluster that runs on it (a rule across the cluster could have changed for them); one
// that changes none of their statuses writes none.
func TestAReconcileWithNothingToWriteMakesNoCall(t *testing.T) {
	ns := newNamespace(t)
	createAll(t, ns, quietSite(t))
	for _, g := range []string{"masters", "dataless", "diskless"} {
		eventually(t, g+" valid", func() error {
			ng := get(t, ns, g, &fcv1.NodesGroup{})
			return wantCondition(ng, ng.Status.Conditions, fcv1.ConditionValid, metav1.ConditionTrue, fcv1.ReasonValid, "")
		})
	}
	eventually(t, "edge valid", clusterCondition(ns, "edge", fcv1.ConditionValid, metav1.ConditionTrue, ""))
	before, woken := statusWrites(t, "nodesgroups"), reconciles(t, "nodesgroup")

	// A switch with more ports: nothing any group says changes.
	m := &fcv1.Machine{ObjectMeta: objMeta(ns, "edge-rack1")}
	update(t, m, func(o client.Object) { o.(*fcv1.Machine).Spec.Shelves[0].Switches[0].Ports++ })
	eventually(t, "the three groups reconciled", func() error {
		if n := reconciles(t, "nodesgroup") - woken; n < 3 {
			return fmt.Errorf("%v NodesGroup reconciles since the change", n)
		}
		return nil
	})
	time.Sleep(time.Second) // for a write that a reconcile counted above is still making
	if got := statusWrites(t, "nodesgroups") - before; got != 0 {
		t.Fatalf("%v NodesGroup status writes after a change that moved no group's status, want 0", got)
	}
}
