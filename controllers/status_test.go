package controllers_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

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
	createAll(t, ns, readManifests(t, sampleSite...))
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
			return &controllers.MachineReconciler{Client: c}
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

// TestAReconcileWithNothingToWriteMakesNoCall: a change to one group wakes its sibling
// groups (a cluster-wide rule could have changed for them); those whose status stays the
// same write nothing, so only the changed group's status is written.
func TestAReconcileWithNothingToWriteMakesNoCall(t *testing.T) {
	ns := newNamespace(t)
	createAll(t, ns, readManifests(t, sampleSite...))
	groups := []string{"masters", "dataless", "diskless"}
	settled := func(g string) func() error {
		return func() error {
			ng := get(t, ns, g, &fcv1.NodesGroup{})
			return wantCondition(ng, ng.Status.Conditions, fcv1.ConditionValid, metav1.ConditionTrue, fcv1.ReasonValid, "")
		}
	}
	for _, g := range groups {
		eventually(t, g+" valid", settled(g))
	}
	before := statusWrites(t, "nodesgroups")

	// A new generation of dataless: it and its siblings are reconciled.
	update(t, &fcv1.NodesGroup{ObjectMeta: objMeta(ns, "dataless")}, func(o client.Object) {
		o.(*fcv1.NodesGroup).Spec.Rollout.MaxUnavailable++
	})
	eventually(t, "dataless records its new generation", settled("dataless"))
	// The siblings' reconciles were queued with dataless's; a pass of the Cluster (woken by
	// the same change) shows them done.
	eventually(t, "the Cluster has seen the change", func() error {
		cl := get(t, ns, "edge", &fcv1.Cluster{})
		for _, g := range groups {
			ng := get(t, ns, g, &fcv1.NodesGroup{})
			if ng.Status.ObservedGeneration != ng.Generation {
				return fmt.Errorf("%s not reconciled", g)
			}
		}
		return wantCondition(cl, cl.Status.Conditions, fcv1.ConditionValid, metav1.ConditionTrue, "", "")
	})
	if got := statusWrites(t, "nodesgroups") - before; got != 1 {
		t.Fatalf("%v NodesGroup status writes after one group changed, want 1 (its own): the siblings wrote a status they already had", got)
	}
}
