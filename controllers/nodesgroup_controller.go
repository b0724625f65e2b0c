package controllers

import (
	"context"
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/internal/model"
)

// NodesGroupReconciler records, on each group, whether the rules that concern it hold: its
// own, and those it takes part in across its Cluster (node ids, drawers, addresses).
type NodesGroupReconciler struct {
	client.Client
	Recorder recorder.EventRecorder
}

// Reconcile resolves the group's cluster model and patches the group's status.
func (r *NodesGroupReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var g fcv1.NodesGroup
	if err := r.Get(ctx, req.NamespacedName, &g); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !g.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}

	// Without its Cluster only the group's own rules can be checked; with it, Resolve checks
	// those too, along with the rules that span objects.
	problems := model.ValidateGroup(&g)
	var res *model.Result
	var cl fcv1.Cluster
	err := r.Get(ctx, types.NamespacedName{Namespace: g.Namespace, Name: g.Spec.ClusterRef.Name}, &cl)
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return ctrl.Result{}, fmt.Errorf("get Cluster %s: %w", g.Spec.ClusterRef.Name, err)
	default:
		in, err := loadModel(ctx, r.Client, &cl)
		if err != nil {
			return ctrl.Result{}, err
		}
		res = model.Resolve(in)
		problems = res.ProblemsFor("NodesGroup", g.Name)
	}
	status := groupStatus(r.Recorder, &g, res, problems)
	if err := applyStatus(ctx, r.Client, &g, &status); err != nil {
		return ctrl.Result{}, fmt.Errorf("patch status of NodesGroup %s: %w", req.NamespacedName, err)
	}
	return ctrl.Result{}, nil
}

// groupStatus builds the part of the status this controller owns: conditions, the total, and
// each node's problems. Node phases belong to the install server and are not written here.
func groupStatus(rec recorder.EventRecorder, g *fcv1.NodesGroup, res *model.Result, problems []model.Problem) fcv1.NodesGroupStatus {
	st := fcv1.NodesGroupStatus{ObservedGeneration: g.Generation, Total: int32(len(g.Spec.Nodes))}
	byNode := map[string][]string{}
	for _, p := range problems {
		if p.Node != "" {
			byNode[p.Node] = append(byNode[p.Node], p.Field+": "+p.Message)
		}
	}
	for _, n := range g.Spec.Nodes {
		st.Nodes = append(st.Nodes, fcv1.NodeStatus{Name: n.Name, Problems: byNode[n.Name]})
	}
	// The install server's entry for a node removed from the spec stays (it owns it): count
	// only the group's nodes, as the Cluster's nodesByPhase does.
	st.Running = nodesByPhase([]fcv1.NodesGroup{*g})[string(fcv1.NodeRunning)]

	var valid = condition(g, fcv1.ConditionValid, true, fcv1.ReasonValid, "the group's rules hold")
	switch {
	case res == nil:
		valid = condition(g, fcv1.ConditionValid, false, fcv1.ReasonClusterNotFound,
			fmt.Sprintf("spec.clusterRef: Cluster %q not found in namespace %q: create it or fix the name", g.Spec.ClusterRef.Name, g.Namespace))
	case len(problems) > 0:
		valid = condition(g, fcv1.ConditionValid, false, reasonOf(problems, ReasonMultipleProblems), summarize(problems, messageLimit))
	}
	// Only the conditions this reconciler writes: the Deployable condition has its own field
	// manager, and applying a copy of it here would keep it alive after its owner drops it.
	own := slices.DeleteFunc(slices.Clone(g.Status.Conditions), func(c metav1.Condition) bool { return c.Type != fcv1.ConditionValid })
	st.Conditions = setConditions(rec, g, own, valid)
	return st
}

// SetupWithManager watches groups, their Cluster, its Machine and Network, and sibling groups:
// a rule such as "node ids unique in the cluster" changes when any of them does.
func (r *NodesGroupReconciler) SetupWithManager(mgr ctrl.Manager) error {
	gen := builder.WithPredicates(predicate.GenerationChangedPredicate{})
	return ctrl.NewControllerManagedBy(mgr).
		For(&fcv1.NodesGroup{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, nodePhasesChanged()))).
		Watches(&fcv1.Cluster{}, handler.EnqueueRequestsFromMapFunc(r.groupsOfCluster), gen).
		Watches(&fcv1.NodesGroup{}, handler.EnqueueRequestsFromMapFunc(r.siblings), gen).
		Watches(&fcv1.Machine{}, handler.EnqueueRequestsFromMapFunc(r.groupsVia(indexClusterMachine)), gen).
		Watches(&fcv1.Network{}, handler.EnqueueRequestsFromMapFunc(r.groupsVia(indexClusterNetwork)), gen).
		Named("nodesgroup").
		Complete(r)
}

// nodePhasesChanged passes status updates that change a node's phase (the install server
// reports them), so the group's counts follow; the controller's own status patches change no
// phase and so do not wake it again.
func nodePhasesChanged() predicate.Funcs {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		return !equality.Semantic.DeepEqual(phases(e.ObjectOld.(*fcv1.NodesGroup)), phases(e.ObjectNew.(*fcv1.NodesGroup)))
	}}
}

func phases(g *fcv1.NodesGroup) map[string]fcv1.NodePhase {
	m := make(map[string]fcv1.NodePhase, len(g.Status.Nodes))
	for _, n := range g.Status.Nodes {
		m[n.Name] = n.Phase
	}
	return m
}

func (r *NodesGroupReconciler) groupRequests(ctx context.Context, namespace, cluster string) []reconcile.Request {
	groups, err := groupsOf(ctx, r.Client, namespace, cluster)
	if err != nil {
		logf.FromContext(ctx).Error(err, "list groups", "cluster", cluster)
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(groups))
	for _, g := range groups {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: namespace, Name: g.Name}})
	}
	return reqs
}

func (r *NodesGroupReconciler) groupsOfCluster(ctx context.Context, o client.Object) []reconcile.Request {
	return r.groupRequests(ctx, o.GetNamespace(), o.GetName())
}

func (r *NodesGroupReconciler) siblings(ctx context.Context, o client.Object) []reconcile.Request {
	return r.groupRequests(ctx, o.GetNamespace(), o.(*fcv1.NodesGroup).Spec.ClusterRef.Name)
}

func (r *NodesGroupReconciler) groupsVia(index string) handler.MapFunc {
	return viaClusters(r.Client, index, r.groupRequests)
}
