package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
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

// Labels on the deployable FlashArchives the controller makes. Their values are the names
// when these fit a label value (63 characters), a digest of them otherwise (labelValue); the
// annotations of the same keys always hold the full names.
const (
	LabelCluster    = "flarecast.io/cluster"
	LabelNodesGroup = "flarecast.io/nodes-group"
)

// ConditionDeployable is the DeployableReconciler's condition on a NodesGroup: whether the
// group's deployable FlashArchive exists, and, when it cannot be made, why, with the API
// server's own message. It is written under its own field manager (deployableFieldOwner), so
// the NodesGroup reconciler's status writes leave it alone.
const (
	ConditionDeployable = "Deployable"
	// ReasonDeployableMade: the deployable exists and is the group's.
	ReasonDeployableMade = "DeployableMade"
	// ReasonWaitingForModel: the Cluster's model is not complete and valid yet.
	ReasonWaitingForModel = "WaitingForModel"
	// ReasonDeployableNameTaken: a FlashArchive of the deployable's name exists and is not the group's.
	ReasonDeployableNameTaken = "DeployableNameTaken"
	// ReasonDeployableRefused: the API server refused to create or update the deployable.
	ReasonDeployableRefused = "DeployableRefused"
)

const deployableFieldOwner = "flarecast-deployables"

// DeployableReconciler makes, for each NodesGroup that names an archive, the deployable
// FlashArchive <cluster>-<group> once the Cluster's model is complete and valid, and removes
// it when the group no longer names an archive. Building it is the FlashArchive reconciler's
// business. What became of the deployable is the group's Deployable condition.
type DeployableReconciler struct {
	client.Client
	Recorder recorder.EventRecorder
}

// DeployableName is the name of the deployable FlashArchive made for a group. Both names are
// valid object names (up to 253 characters each), so their join may not be: a name that would
// be too long keeps a readable prefix and ends with a digest of the whole.
func DeployableName(cluster, group string) string {
	return boundedName(cluster+"-"+group, validation.DNS1123SubdomainMaxLength)
}

// boundedName is name when it has at most max characters, otherwise a prefix of it and a
// digest of all of it, so two long names stay apart.
func boundedName(name string, max int) string {
	if len(name) <= max {
		return name
	}
	sum := hash(name)[:16]
	return strings.TrimRight(name[:max-len(sum)-1], "-.") + "-" + sum
}

// labelValue is an object name as a label value. Object names run to 253 characters and
// label values to 63: a group with a longer name used to get no deployable at all, the
// create refused with a message only the manager's log showed.
func labelValue(name string) string {
	if len(name) <= validation.LabelValueMaxLength {
		return name
	}
	return "sha256-" + hash(name)[:validation.LabelValueMaxLength-len("sha256-")]
}

// Reconcile creates, updates or deletes one group's deployable FlashArchive and records the
// outcome, failures included, in the group's Deployable condition.
func (r *DeployableReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var g fcv1.NodesGroup
	if err := r.Get(ctx, req.NamespacedName, &g); err != nil {
		// A deleted group's deployable goes with it: it is owned.
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	cond, err := r.reconcileDeployable(ctx, &g)
	if err != nil && cond == nil {
		c := condition(&g, ConditionDeployable, false, ReasonDeployableRefused, err.Error())
		cond = &c
	}
	if !g.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, err
	}
	if perr := r.applyCondition(ctx, &g, cond); perr != nil {
		err = errors.Join(err, perr)
	}
	return ctrl.Result{}, err
}

func (r *DeployableReconciler) reconcileDeployable(ctx context.Context, g *fcv1.NodesGroup) (*metav1.Condition, error) {
	name := DeployableName(g.Spec.ClusterRef.Name, g.Name)
	keep := name
	if g.Spec.ArchiveRef == nil || !g.DeletionTimestamp.IsZero() {
		keep = ""
	}
	if err := r.deleteOthers(ctx, g, keep); err != nil || keep == "" {
		return nil, err
	}
	var existing fcv1.FlashArchive
	err := r.Get(ctx, client.ObjectKey{Namespace: g.Namespace, Name: name}, &existing)
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("get FlashArchive %s: %w", name, err)
	}
	exists := err == nil
	if exists && !metav1.IsControlledBy(&existing, g) {
		msg := fmt.Sprintf("FlashArchive %s exists and was not made for this group: the controller leaves it alone; delete or rename it to get the group's deployable", name)
		r.Recorder.Eventf(g, &existing, "Warning", ReasonDeployableNameTaken, "CreateDeployable", "%s", msg)
		c := condition(g, ConditionDeployable, false, ReasonDeployableNameTaken, msg)
		return &c, nil
	}
	if !exists {
		ready, err := r.modelReady(ctx, g)
		if err != nil {
			return nil, err
		}
		if !ready {
			c := condition(g, ConditionDeployable, false, ReasonWaitingForModel, fmt.Sprintf(
				"the deployable %s is made once Cluster %s is ModelComplete=True and Valid=True: see its conditions", name, g.Spec.ClusterRef.Name))
			return &c, nil
		}
	}
	fa := &fcv1.FlashArchive{ObjectMeta: metav1.ObjectMeta{Namespace: g.Namespace, Name: name}}
	op, err := controllerutil.CreateOrUpdate(ctx, r.Client, fa, func() error {
		if fa.Labels == nil {
			fa.Labels = map[string]string{}
		}
		if fa.Annotations == nil {
			fa.Annotations = map[string]string{}
		}
		fa.Labels[LabelCluster], fa.Labels[LabelNodesGroup] = labelValue(g.Spec.ClusterRef.Name), labelValue(g.Name)
		fa.Annotations[LabelCluster], fa.Annotations[LabelNodesGroup] = g.Spec.ClusterRef.Name, g.Name
		fa.Spec = fcv1.FlashArchiveSpec{
			Type:          fcv1.ArchiveDeployable,
			BaseRef:       &fcv1.LocalObjectReference{Name: g.Spec.ArchiveRef.Name},
			ClusterRef:    &fcv1.LocalObjectReference{Name: g.Spec.ClusterRef.Name},
			NodesGroupRef: &fcv1.LocalObjectReference{Name: g.Name},
		}
		return controllerutil.SetControllerReference(g, fa, r.Scheme())
	})
	if apierrors.IsAlreadyExists(err) {
		// An earlier pass created it and the cache has not caught up: its create event
		// brings the group back if anything is left to do.
		return nil, nil
	}
	if err != nil {
		c := condition(g, ConditionDeployable, false, ReasonDeployableRefused,
			fmt.Sprintf("create or update FlashArchive %s: %v", name, err))
		return &c, fmt.Errorf("create or update FlashArchive %s: %w", name, err)
	}
	if op == controllerutil.OperationResultCreated {
		r.Recorder.Eventf(g, fa, "Normal", "DeployableCreated", "CreateDeployable",
			"created deployable FlashArchive %s from %s", name, g.Spec.ArchiveRef.Name)
		logf.FromContext(ctx).Info("created deployable", "archive", name)
	}
	c := condition(g, ConditionDeployable, true, ReasonDeployableMade,
		fmt.Sprintf("FlashArchive %s is made from %s", name, g.Spec.ArchiveRef.Name))
	return &c, nil
}

// applyCondition writes the group's Deployable condition (none: the group names no
// archive) under the reconciler's own field manager, and only when it changed.
func (r *DeployableReconciler) applyCondition(ctx context.Context, g *fcv1.NodesGroup, cond *metav1.Condition) error {
	cur := meta.FindStatusCondition(g.Status.Conditions, ConditionDeployable)
	if cond == nil && cur == nil {
		return nil
	}
	status := map[string]any{}
	if cond != nil {
		if cur != nil && cur.Status == cond.Status && cur.Reason == cond.Reason && cur.Message == cond.Message &&
			cur.ObservedGeneration == cond.ObservedGeneration {
			return nil
		}
		merged := setConditions(r.Recorder, g, g.Status.Conditions, *cond)
		c, err := runtime.DefaultUnstructuredConverter.ToUnstructured(meta.FindStatusCondition(merged, ConditionDeployable))
		if err != nil {
			return err
		}
		status["conditions"] = []any{c}
	}
	if err := applyStatusFields(ctx, r.Client, g, deployableFieldOwner, status); err != nil {
		return fmt.Errorf("patch Deployable condition of NodesGroup %s: %w", g.Name, err)
	}
	return nil
}

// deleteOthers deletes the deployables made for the group except the one named keep: the
// group no longer names an archive, is going, or moved to another Cluster (whose name is
// part of the deployable's).
func (r *DeployableReconciler) deleteOthers(ctx context.Context, g *fcv1.NodesGroup, keep string) error {
	var list fcv1.FlashArchiveList
	if err := r.List(ctx, &list, client.InNamespace(g.Namespace), client.MatchingLabels{LabelNodesGroup: labelValue(g.Name)}); err != nil {
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
