package controllers

import (
	"context"
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/internal/model"
)

// inUseFinalizer holds a Machine or Network while a Cluster references it: deleting the
// hardware or addressing model under a cluster would silently break its deployable archives.
const inUseFinalizer = "flarecast.io/in-use"

// usage is what the Machine and Network reconcilers share: who references the object, the
// finalizer that guards it, and its InUse and Valid conditions.
type usage struct {
	UsedBy     []string
	Conditions []metav1.Condition
	// Released is true when the object was being deleted and nothing references it any more:
	// the finalizer is gone and there is no status left to write.
	Released bool
}

// reconcileUsage handles the finalizer and the deletion of a referenced object, and computes
// its conditions. index is the Cluster field index that names objects of obj's kind.
func reconcileUsage(ctx context.Context, c client.Client, rec recorder.EventRecorder, obj client.Object, index string,
	current []metav1.Condition, problems []model.Problem) (usage, error) {
	gvk, err := apiutil.GVKForObject(obj, c.Scheme())
	if err != nil {
		return usage{}, err
	}
	kind := gvk.Kind
	users, err := clustersReferencing(ctx, c, index, obj.GetNamespace(), obj.GetName())
	if err != nil {
		return usage{}, fmt.Errorf("list clusters using %s %s: %w", kind, obj.GetName(), err)
	}
	if obj.GetDeletionTimestamp().IsZero() {
		if controllerutil.AddFinalizer(obj, inUseFinalizer) {
			if err := c.Update(ctx, obj); err != nil {
				return usage{}, fmt.Errorf("add finalizer to %s %s: %w", kind, obj.GetName(), err)
			}
		}
	} else if len(users) == 0 {
		if controllerutil.RemoveFinalizer(obj, inUseFinalizer) {
			if err := c.Update(ctx, obj); err != nil {
				return usage{}, fmt.Errorf("remove finalizer from %s %s: %w", kind, obj.GetName(), err)
			}
		}
		return usage{Released: true}, nil
	}

	inUse := condition(obj, fcv1.ConditionInUse, false, fcv1.ReasonNotReferenced, "no Cluster references it")
	if len(users) > 0 {
		inUse = condition(obj, fcv1.ConditionInUse, true, fcv1.ReasonReferenced, "referenced by Cluster "+strings.Join(users, ", "))
	}
	if !obj.GetDeletionTimestamp().IsZero() {
		field := strings.ToLower(kind[:1]) + kind[1:] + "Ref"
		inUse = condition(obj, fcv1.ConditionInUse, true, fcv1.ReasonDeletionBlocked,
			fmt.Sprintf("deletion waits: Cluster %s still references this %s; remove spec.%s there first",
				strings.Join(users, ", "), kind, field))
	}
	valid := condition(obj, fcv1.ConditionValid, true, fcv1.ReasonValid, "the "+strings.ToLower(kind)+" model holds together")
	if len(problems) > 0 {
		valid = condition(obj, fcv1.ConditionValid, false, reasonOf(problems, ReasonMultipleProblems), summarize(problems, messageLimit))
	}
	return usage{UsedBy: users, Conditions: setConditions(rec, obj, current, inUse, valid)}, nil
}

// referrersOf maps a Cluster to the object of one kind it references, and to the one it
// referenced before (from the status), so dropping a reference releases the old object.
func referrersOf(ref func(*fcv1.Cluster) (now, before string)) func(context.Context, client.Object) []reconcile.Request {
	return func(_ context.Context, o client.Object) []reconcile.Request {
		cl := o.(*fcv1.Cluster)
		now, before := ref(cl)
		var reqs []reconcile.Request
		for _, n := range []string{now, before} {
			if n != "" {
				reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKey{Namespace: cl.Namespace, Name: n}})
			}
		}
		return reqs
	}
}

// finalizerOrDeletionChanged passes updates that set the deletion timestamp or change the
// finalizers: neither bumps the generation of a custom resource reliably.
func finalizerOrDeletionChanged() predicate.Funcs {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		return !e.ObjectOld.GetDeletionTimestamp().Equal(e.ObjectNew.GetDeletionTimestamp()) ||
			len(e.ObjectOld.GetFinalizers()) != len(e.ObjectNew.GetFinalizers())
	}}
}
