package controllers

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
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
// conflict shows on the Machine to fix and not only on the Cluster.
func (r *MachineReconciler) machineProblems(ctx context.Context, m *fcv1.Machine, users []string) ([]model.Problem, error) {
	return filedOn(ctx, r.Client, m.Namespace, users, model.ValidateMachine(m), func(cl *fcv1.Cluster) ([]model.Problem, error) {
		// The cluster's Machines as its shared resolution read them.
		rs, err := r.Models.Resolve(ctx, cl)
		if err != nil {
			return nil, err
		}
		var out []model.Problem
		for _, p := range model.ValidateMachines(cl.Name, rs.Input.Machines) {
			if p.Kind == model.KindMachine && p.Name == m.Name {
				out = append(out, p)
			}
		}
		return out, nil
	})
}

// SetupWithManager watches Machines and the Clusters that reference them. A change to one
// Machine of a cluster that makes or clears a problem on another (a MAC they share) reaches
// that other through its Cluster, whose status the change moves (TestCrossObjectRules…
// MACUniqueAcrossTheMachinesShowsOnTheMachine edits one Machine and watches the other).
func (r *MachineReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&fcv1.Machine{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, finalizerOrDeletionChanged()))).
		Watches(&fcv1.Cluster{}, handler.EnqueueRequestsFromMapFunc(referrersOf(func(c *fcv1.Cluster) []string {
			names := append([]string(nil), c.Status.Machines...)
			for _, ref := range c.Spec.MachineRefs {
				names = append(names, ref.Name)
			}
			return names
		}))).
		Named("machine").
		Complete(r)
}
