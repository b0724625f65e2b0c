package controllers

import (
	"context"
	"fmt"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/internal/model"
)

// NetworkReconciler checks a Network's own rules and guards it while Clusters reference it.
type NetworkReconciler struct {
	client.Client
	Recorder recorder.EventRecorder
}

// Reconcile validates the Network, manages its in-use finalizer and patches its status.
func (r *NetworkReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var n fcv1.Network
	if err := r.Get(ctx, req.NamespacedName, &n); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	u, err := reconcileUsage(ctx, r.Client, &n, clusterReferrers(indexClusterNetwork, "spec.networkRef"))
	if err != nil || u.Released {
		return ctrl.Result{}, err
	}
	conds := setConditions(r.Recorder, &n, n.Status.Conditions, u.InUse, validCondition(&n, "Network", model.ValidateNetwork(&n)))
	st := fcv1.NetworkStatus{ObservedGeneration: n.Generation, Conditions: conds, UsedBy: u.UsedBy}
	if err := applyStatus(ctx, r.Client, &n, &st); err != nil {
		return ctrl.Result{}, fmt.Errorf("patch status of Network %s: %w", req.NamespacedName, err)
	}
	return ctrl.Result{}, nil
}

// SetupWithManager watches Networks and the Clusters that reference them.
func (r *NetworkReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&fcv1.Network{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, finalizerOrDeletionChanged()))).
		Watches(&fcv1.Cluster{}, handler.EnqueueRequestsFromMapFunc(referrersOf(func(c *fcv1.Cluster) (string, string) {
			now := ""
			if c.Spec.NetworkRef != nil {
				now = c.Spec.NetworkRef.Name
			}
			return now, c.Status.Network
		}))).
		Named("network").
		Complete(r)
}
