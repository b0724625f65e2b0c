package controllers

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
)

// Labels on the deployable FlashArchives the controller makes.
const (
	LabelCluster    = "flarecast.io/cluster"
	LabelNodesGroup = "flarecast.io/nodes-group"
)

// DeployableReconciler makes, for each NodesGroup that names an archive, the deployable
// FlashArchive <cluster>-<group> once the Cluster's model is complete and valid, and removes
// it when the group no longer names an archive. Building it is the FlashArchive reconciler's
// business.
type DeployableReconciler struct {
	client.Client
	Recorder recorder.EventRecorder
}

// DeployableName is the name of the deployable FlashArchive made for a group.
func DeployableName(cluster, group string) string { return cluster + "-" + group }

// Reconcile creates, updates or deletes one group's deployable FlashArchive.
func (r *DeployableReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var g fcv1.NodesGroup
	if err := r.Get(ctx, req.NamespacedName, &g); err != nil {
		// A deleted group's deployable goes with it: it is owned.
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	name := DeployableName(g.Spec.ClusterRef.Name, g.Name)
	keep := name
	if g.Spec.ArchiveRef == nil || !g.DeletionTimestamp.IsZero() {
		keep = ""
	}
	if err := r.deleteOthers(ctx, &g, keep); err != nil || keep == "" {
		return ctrl.Result{}, err
	}
	var existing fcv1.FlashArchive
	err := r.Get(ctx, client.ObjectKey{Namespace: g.Namespace, Name: name}, &existing)
	if err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, fmt.Errorf("get FlashArchive %s: %w", name, err)
	}
	exists := err == nil
	if exists && !metav1.IsControlledBy(&existing, &g) {
		r.Recorder.Eventf(&g, &existing, "Warning", "DeployableNameTaken", "CreateDeployable",
			"FlashArchive %s exists and was not made for this group: the controller leaves it alone", name)
		return ctrl.Result{}, nil
	}
	if !exists {
		ready, err := r.modelReady(ctx, &g)
		if err != nil || !ready {
			return ctrl.Result{}, err
		}
	}
	fa := &fcv1.FlashArchive{ObjectMeta: metav1.ObjectMeta{Namespace: g.Namespace, Name: name}}
	op, err := controllerutil.CreateOrUpdate(ctx, r.Client, fa, func() error {
		if fa.Labels == nil {
			fa.Labels = map[string]string{}
		}
		fa.Labels[LabelCluster], fa.Labels[LabelNodesGroup] = g.Spec.ClusterRef.Name, g.Name
		fa.Spec = fcv1.FlashArchiveSpec{
			Type:          fcv1.ArchiveDeployable,
			BaseRef:       &fcv1.LocalObjectReference{Name: g.Spec.ArchiveRef.Name},
			ClusterRef:    &fcv1.LocalObjectReference{Name: g.Spec.ClusterRef.Name},
			NodesGroupRef: &fcv1.LocalObjectReference{Name: g.Name},
		}
		return controllerutil.SetControllerReference(&g, fa, r.Scheme())
	})
	if apierrors.IsAlreadyExists(err) {
		// An earlier pass created it and the cache has not caught up: its create event
		// brings the group back if anything is left to do.
		return ctrl.Result{}, nil
	}
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("create or update FlashArchive %s: %w", name, err)
	}
	if op == controllerutil.OperationResultCreated {
		r.Recorder.Eventf(&g, fa, "Normal", "DeployableCreated", "CreateDeployable",
			"created deployable FlashArchive %s from %s", name, g.Spec.ArchiveRef.Name)
		logf.FromContext(ctx).Info("created deployable", "archive", name)
	}
	return ctrl.Result{}, nil
}

// deleteOthers deletes the deployables made for the group except the one named keep: the
// group no longer names an archive, is going, or moved to another Cluster (whose name is
// part of the deployable's).
func (r *DeployableReconciler) deleteOthers(ctx context.Context, g *fcv1.NodesGroup, keep string) error {
	var list fcv1.FlashArchiveList
	if err := r.List(ctx, &list, client.InNamespace(g.Namespace), client.MatchingLabels{LabelNodesGroup: g.Name}); err != nil {
		return fmt.Errorf("list deployables of NodesGroup %s: %w", g.Name, err)
	}
	for i := range list.Items {
		fa := &list.Items[i]
		if fa.Name == keep || !metav1.IsControlledBy(fa, g) || !fa.DeletionTimestamp.IsZero() {
			continue
		}
		if err := r.Delete(ctx, fa); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("delete FlashArchive %s: %w", fa.Name, err)
		}
		logf.FromContext(ctx).Info("deleted deployable", "archive", fa.Name)
	}
	return nil
}

// modelReady reports whether the group's Cluster says its model is complete and valid, for
// the generation it describes.
func (r *DeployableReconciler) modelReady(ctx context.Context, g *fcv1.NodesGroup) (bool, error) {
	var cl fcv1.Cluster
	if err := r.Get(ctx, client.ObjectKey{Namespace: g.Namespace, Name: g.Spec.ClusterRef.Name}, &cl); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	return meta.IsStatusConditionTrue(cl.Status.Conditions, fcv1.ConditionModelComplete) &&
		meta.IsStatusConditionTrue(cl.Status.Conditions, fcv1.ConditionValid), nil
}

// SetupWithManager watches groups, their Cluster's status (the model becoming complete) and
// the deployables it made (one deleted by hand is made again).
func (r *DeployableReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&fcv1.NodesGroup{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, finalizerOrDeletionChanged()))).
		Watches(&fcv1.Cluster{}, handler.EnqueueRequestsFromMapFunc(r.groupsOfCluster), builder.WithPredicates(modelReadinessChanged())).
		Owns(&fcv1.FlashArchive{}, builder.WithPredicates(predicate.Funcs{
			UpdateFunc: func(_ event.UpdateEvent) bool { return false },
		})).
		Named("deployable").
		WithOptions(controller.Options{MaxConcurrentReconciles: 4}).
		Complete(r)
}

// modelReadinessChanged passes the Cluster updates that can change what modelReady says:
// its status also moves with every archive that gets built, which would wake each group's
// deployable of a large cluster every time.
func modelReadinessChanged() predicate.Funcs {
	ready := func(cl *fcv1.Cluster) [2]bool {
		return [2]bool{meta.IsStatusConditionTrue(cl.Status.Conditions, fcv1.ConditionModelComplete),
			meta.IsStatusConditionTrue(cl.Status.Conditions, fcv1.ConditionValid)}
	}
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		o, n := e.ObjectOld.(*fcv1.Cluster), e.ObjectNew.(*fcv1.Cluster)
		return o.Generation != n.Generation || ready(o) != ready(n)
	}}
}

func (r *DeployableReconciler) groupsOfCluster(ctx context.Context, o client.Object) []reconcile.Request {
	groups, err := groupsOf(ctx, r.Client, o.GetNamespace(), o.GetName())
	if err != nil {
		logf.FromContext(ctx).Error(err, "list groups", "cluster", o.GetName())
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(groups))
	for _, g := range groups {
		reqs = append(reqs, requestFor(g.Namespace, g.Name))
	}
	return reqs
}
