package controllers

import (
	"context"
	"fmt"
	"sort"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/internal/model"
	"github.com/flarecast/flarecast/internal/modelsource"
)

// NetworkReconciler checks a Network's rules, its own and those that span the Clusters that
// use it, and guards it while Clusters reference it.
type NetworkReconciler struct {
	client.Client
	Recorder recorder.EventRecorder
	// Models serves the models of the Clusters that use the Network.
	Models *modelsource.Source
}

// Reconcile validates the Network, manages its in-use finalizer and patches its status. An
// error on the way ends in the condition the failed step decides (see recordFailure).
func (r *NetworkReconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, err error) {
	var n fcv1.Network
	if err := r.Get(ctx, req.NamespacedName, &n); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	failing := []string{fcv1.ConditionInUse}
	defer func() {
		if err != nil {
			err = recordFailure(ctx, r.Client, r.Recorder, &n, err, failing, n.Status.Conditions, func(conds []metav1.Condition) any {
				st := n.Status.DeepCopy()
				st.Conditions = conds
				return st
			})
		}
	}()
	u, err := reconcileUsage(ctx, r.Client, &n, clusterReferrers(indexClusterNetwork, "spec.networkRef"))
	if err != nil || u.Released {
		return ctrl.Result{}, err
	}
	failing = []string{fcv1.ConditionValid}
	problems, err := r.networkProblems(ctx, &n, u.UsedBy)
	if err != nil {
		return ctrl.Result{}, err
	}
	conds := setConditions(r.Recorder, &n, n.Status.Conditions, u.InUse, validCondition(&n, "Network", problems))
	st := fcv1.NetworkStatus{ObservedGeneration: n.Generation, Conditions: conds, UsedBy: u.UsedBy}
	failing = nil
	if err := writeStatus(ctx, r.Client, &n, equality.Semantic.DeepEqual(&n.Status, &st), &st); err != nil {
		return ctrl.Result{}, fmt.Errorf("patch status of Network %s: %w", req.NamespacedName, err)
	}
	return ctrl.Result{}, nil
}

// networkProblems are the problems on a Network: its own rules, and, for each Cluster that
// uses it, the rules that span that Cluster's model (an address for a node no group has, a
// switch the Machine lacks), so they show on the object a person must fix, each once.
func (r *NetworkReconciler) networkProblems(ctx context.Context, n *fcv1.Network, users []string) ([]model.Problem, error) {
	return filedOn(ctx, r.Client, n.Namespace, users, model.ValidateNetwork(n), func(cl *fcv1.Cluster) ([]model.Problem, error) {
		rs, err := r.Models.Resolve(ctx, cl)
		if err != nil {
			return nil, err
		}
		return rs.Result.ProblemsFor(model.KindNetwork, n.Name), nil
	})
}

// filedOn gathers the problems on a referenced object: its own, and those each Cluster that
// uses it finds on it (find), each once, sorted.
func filedOn(ctx context.Context, c client.Reader, namespace string, users []string, own []model.Problem, find func(*fcv1.Cluster) ([]model.Problem, error)) ([]model.Problem, error) {
	seen := map[string]bool{}
	var out []model.Problem
	add := func(ps []model.Problem) {
		for _, p := range ps {
			if !seen[p.String()] {
				seen[p.String()] = true
				out = append(out, p)
			}
		}
	}
	add(own)
	for _, name := range users {
		var cl fcv1.Cluster
		if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &cl); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return nil, fmt.Errorf("get Cluster %s: %w", name, err)
		}
		ps, err := find(&cl)
		if err != nil {
			return nil, err
		}
		add(ps)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out, nil
}

// networkOf is the Network a Cluster uses, as a request.
func (r *NetworkReconciler) networkOf(ctx context.Context, namespace, cluster string) []reconcile.Request {
	var cl fcv1.Cluster
	if err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: cluster}, &cl); err != nil || cl.Spec.NetworkRef == nil {
		return nil
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: namespace, Name: cl.Spec.NetworkRef.Name}}}
}

// SetupWithManager watches Networks, the Clusters that reference them, and what those
// Clusters' rules about a Network depend on: their NodesGroups and their Machine.
func (r *NetworkReconciler) SetupWithManager(mgr ctrl.Manager) error {
	gen := builder.WithPredicates(predicate.GenerationChangedPredicate{})
	groupNetwork := func(ctx context.Context, o client.Object) []reconcile.Request {
		return r.networkOf(ctx, o.GetNamespace(), o.(*fcv1.NodesGroup).Spec.ClusterRef.Name)
	}
	return ctrl.NewControllerManagedBy(mgr).
		Watches(&fcv1.NodesGroup{}, handler.EnqueueRequestsFromMapFunc(groupNetwork), gen).
		Watches(&fcv1.Machine{}, handler.EnqueueRequestsFromMapFunc(viaClusters(r.Client, indexClusterMachine, r.networkOf)), gen).
		For(&fcv1.Network{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, finalizerOrDeletionChanged()))).
		Watches(&fcv1.Cluster{}, handler.EnqueueRequestsFromMapFunc(referrersOf(func(c *fcv1.Cluster) []string {
			now := ""
			if c.Spec.NetworkRef != nil {
				now = c.Spec.NetworkRef.Name
			}
			return []string{now, c.Status.Network}
		}))).
		Named("network").
		Complete(r)
}
