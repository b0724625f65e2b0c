package controllers

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/internal/model"
)

// inUseFinalizer holds a Machine or Network while a Cluster references it: deleting the
// hardware or addressing model under a cluster would silently break its deployable archives.
const inUseFinalizer = "flarecast.io/in-use"

// usage is what the objects that others reference share (Machines and Networks referenced by
// Clusters, FlashArchives referenced by other FlashArchives): who references the object, the
// finalizer that guards it, and its InUse condition.
type usage struct {
	UsedBy []string
	InUse  metav1.Condition
	// Released is true when the object was being deleted and nothing references it any more:
	// the finalizer is gone and there is no status left to write.
	Released bool
}

// referrers says which kind references an object and how to list the referencing objects
// (from the cache, through a field index): their names, and the field a person clears there
// to let the object go.
type referrers struct {
	Kind string
	// Qualified says the names List returns already carry their kind ("NodesGroup/edge"),
	// because more than one kind may reference the object.
	Qualified bool
	List      func(ctx context.Context, c client.Reader, namespace, name string) (names []string, field string, err error)
}

// clusterReferrers are the Clusters that name an object in the field behind index.
func clusterReferrers(index, field string) referrers {
	return referrers{Kind: "Cluster", List: func(ctx context.Context, c client.Reader, ns, name string) ([]string, string, error) {
		names, err := clustersReferencing(ctx, c, index, ns, name)
		return names, field, err
	}}
}

// reconcileUsage handles the in-use finalizer and the deletion of a referenced object, and
// computes its InUse condition.
func reconcileUsage(ctx context.Context, c client.Client, obj client.Object, refs referrers) (usage, error) {
	gvk, err := apiutil.GVKForObject(obj, c.Scheme())
	if err != nil {
		return usage{}, err
	}
	kind := gvk.Kind
	users, field, err := refs.List(ctx, c, obj.GetNamespace(), obj.GetName())
	if err != nil {
		return usage{}, fmt.Errorf("list %ss using %s %s: %w", refs.Kind, kind, obj.GetName(), err)
	}
	// The cache lists in no particular order: sorted, the status and messages are the same
	// from one pass to the next and are not written again for nothing.
	sort.Strings(users)
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

	who := strings.Join(users, ", ")
	if !refs.Qualified {
		who = refs.Kind + " " + who
	}
	inUse := condition(obj, fcv1.ConditionInUse, false, fcv1.ReasonNotReferenced, "no "+refs.Kind+" references it")
	if len(users) > 0 {
		inUse = condition(obj, fcv1.ConditionInUse, true, fcv1.ReasonReferenced, "referenced by "+who)
	}
	if !obj.GetDeletionTimestamp().IsZero() {
		verb := "references"
		if len(users) > 1 {
			verb = "reference"
		}
		inUse = condition(obj, fcv1.ConditionInUse, true, fcv1.ReasonDeletionBlocked,
			fmt.Sprintf("deletion waits: %s still %s this %s; remove %s there first", who, verb, kind, field))
	}
	return usage{UsedBy: users, InUse: inUse}, nil
}

// validCondition is a Machine's or Network's Valid condition: its own rules.
func validCondition(obj client.Object, kind string, problems []model.Problem) metav1.Condition {
	if len(problems) > 0 {
		return condition(obj, fcv1.ConditionValid, false, reasonOf(problems, ReasonMultipleProblems), summarize(problems, messageLimit))
	}
	return condition(obj, fcv1.ConditionValid, true, fcv1.ReasonValid, "the "+strings.ToLower(kind)+" model holds together")
}

// referrersOf maps a Cluster to the objects of one kind it references, and to those it
// referenced before (from the status), so dropping a reference releases the old object.
func referrersOf(refs func(*fcv1.Cluster) []string) func(context.Context, client.Object) []reconcile.Request {
	return func(_ context.Context, o client.Object) []reconcile.Request {
		cl := o.(*fcv1.Cluster)
		var reqs []reconcile.Request
		for _, n := range refs(cl) {
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
			!slices.Equal(e.ObjectOld.GetFinalizers(), e.ObjectNew.GetFinalizers())
	}}
}
