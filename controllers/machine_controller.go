package controllers

import (
	"context"
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/internal/model"
	"github.com/flarecast/flarecast/internal/modelsource"
)

// MachineReconciler checks a Machine's own rules and guards it while Clusters reference it.
type MachineReconciler struct {
	client.Client
	Recorder recorder.EventRecorder
	// Models serves the models of the Clusters that run on the Machine.
	Models *modelsource.Source
}

// Reconcile validates the Machine, manages its in-use finalizer and patches its status. An
// error on the way ends in the InUse condition (see recordFailure).
func (r *MachineReconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, err error) {
	var m fcv1.Machine
	if err := r.Get(ctx, req.NamespacedName, &m); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	failing := []string{fcv1.ConditionInUse}
	defer func() {
		if err != nil {
			err = recordFailure(ctx, r.Client, r.Recorder, &m, err, failing, m.Status.Conditions, func(conds []metav1.Condition) any {
				st := m.Status.DeepCopy()
				st.Conditions = conds
				return st
			})
		}
	}()
	u, err := reconcileUsage(ctx, r.Client, &m, clusterReferrers(indexClusterMachine, "its entry of spec.machineRefs"))
	if err != nil || u.Released {
		return ctrl.Result{}, err
	}
	failing = []string{fcv1.ConditionValid}
	problems, err := r.machineProblems(ctx, &m, u.UsedBy)
	if err != nil {
		return ctrl.Result{}, err
	}
	conds := setConditions(r.Recorder, &m, m.Status.Conditions, u.InUse, validCondition(&m, "Machine", problems))
	var drawers int32
	for _, s := range m.Spec.Shelves {
		drawers += int32(len(s.Drawers))
	}
	st := fcv1.MachineStatus{ObservedGeneration: m.Generation, Conditions: conds, UsedBy: u.UsedBy, Drawers: drawers}
	failing = nil
	if err := writeStatus(ctx, r.Client, &m, equality.Semantic.DeepEqual(&m.Status, &st), &st); err != nil {
		return ctrl.Result{}, fmt.Errorf("patch status of Machine %s: %w", req.NamespacedName, err)
	}
	return ctrl.Result{}, nil
}

// machineProblems are the problems on a Machine: its own rules, and, for each Cluster that
// runs on it, the rules across that Cluster's Machines (a MAC once in all of them), so a
// conflict shows on the Machine to fix and not only on the Cluster. They come from the
// cluster's shared resolution, which checks those rules (model.ValidateMachines) once for
// every Machine of it, instead of each Machine checking all the others again.
func (r *MachineReconciler) machineProblems(ctx context.Context, m *fcv1.Machine, users []string) ([]model.Problem, error) {
	return filedOn(ctx, r.Client, m.Namespace, users, model.ValidateMachine(m), func(cl *fcv1.Cluster) ([]model.Problem, error) {
		rs, err := r.Models.Resolve(ctx, cl)
		if err != nil {
			return nil, err
		}
		return rs.Result.ProblemsFor(model.KindMachine, m.Name), nil
	})
}

// SetupWithManager watches Machines, the Clusters that reference them, and the other
// Machines of those Clusters: a change to one Machine can make or clear a problem on another
// (a MAC they share; TestCrossObjectRules…MACUniqueAcrossTheMachinesShowsOnTheMachine edits
// one Machine and watches the other). Of a Cluster, only what says which Machines it uses
// matters (its spec, the Machines its status recorded, its deletion): its status moves with
// every group and archive, and would wake every Machine of a large cluster each time.
func (r *MachineReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&fcv1.Machine{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, finalizerOrDeletionChanged()))).
		Watches(&fcv1.Cluster{}, handler.EnqueueRequestsFromMapFunc(referrersOf(machinesOfCluster)), builder.WithPredicates(machinesChanged())).
		Watches(&fcv1.Machine{}, handler.EnqueueRequestsFromMapFunc(viaClusters(r.Client, indexClusterMachine, r.machinesOf)),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Named("machine").
		Complete(r)
}

// machinesOfCluster are the Machines a Cluster references, and those it referenced before
// (from its status), so dropping a reference releases the old Machine.
func machinesOfCluster(c *fcv1.Cluster) []string {
	names := append([]string(nil), c.Status.Machines...)
	for _, ref := range c.Spec.MachineRefs {
		names = append(names, ref.Name)
	}
	return names
}

// machinesChanged passes a Cluster's updates that change which Machines it uses.
func machinesChanged() predicate.Funcs {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		o, n := e.ObjectOld.(*fcv1.Cluster), e.ObjectNew.(*fcv1.Cluster)
		return o.Generation != n.Generation || !slices.Equal(o.Status.Machines, n.Status.Machines) ||
			!o.DeletionTimestamp.Equal(n.DeletionTimestamp)
	}}
}

// machinesOf are the requests of the Machines a Cluster references.
func (r *MachineReconciler) machinesOf(ctx context.Context, namespace, cluster string) []reconcile.Request {
	var cl fcv1.Cluster
	if err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: cluster}, &cl); err != nil {
		return nil
	}
	return referrersOf(machinesOfCluster)(ctx, &cl)
}
