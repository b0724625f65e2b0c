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
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/internal/model"
	"github.com/flarecast/flarecast/internal/modelsource"
)

// NodesGroupReconciler records, on each group, whether the rules that concern it hold: its
// own, and those it takes part in across its Cluster (node ids, drawers, addresses).
type NodesGroupReconciler struct {
	client.Client
	Recorder recorder.EventRecorder
	// Models serves the cluster's model resolved once for all its groups.
	Models *modelsource.Source
}

// Reconcile takes the group's cluster model and patches the group's status. An error on
// the way ends in the Valid condition (see recordFailure).
func (r *NodesGroupReconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, err error) {
	var g fcv1.NodesGroup
	if err := r.Get(ctx, req.NamespacedName, &g); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !g.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	recorded := ownedGroupStatus(&g)
	failing := []string{fcv1.ConditionValid}
	defer func() {
		if err != nil {
			err = recordFailure(ctx, r.Client, r.Recorder, &g, err, failing, recorded.Conditions, func(conds []metav1.Condition) any {
				st := recorded
				st.Conditions = conds
				return &st
			})
		}
	}()

	// Without its Cluster only the group's own rules can be checked; with it, Resolve checks
	// those too, along with the rules that span objects.
	problems := model.ValidateGroup(&g)
	var res *model.Result
	var cl fcv1.Cluster
	err = r.Get(ctx, types.NamespacedName{Namespace: g.Namespace, Name: g.Spec.ClusterRef.Name}, &cl)
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return ctrl.Result{}, fmt.Errorf("get Cluster %s: %w", g.Spec.ClusterRef.Name, err)
	default:
		rs, err := r.Models.Resolve(ctx, &cl)
		if err != nil {
			return ctrl.Result{}, err
		}
		res = rs.Result
		problems = res.ProblemsFor("NodesGroup", g.Name)
	}
	status := groupStatus(r.Recorder, &g, res, problems)
	failing = nil
	if err := writeStatus(ctx, r.Client, &g, equality.Semantic.DeepEqual(&recorded, &status), &status); err != nil {
		return ctrl.Result{}, fmt.Errorf("patch status of NodesGroup %s: %w", req.NamespacedName, err)
	}
	return ctrl.Result{}, nil
}

// ownedGroupStatus is the part of a group's recorded status that this controller writes,
// in the shape groupStatus builds it: each node of the spec with its problems, in spec
// order. Node phases, addresses and messages are the install server's and are left out; so
// is an entry of its for a node the spec no longer has, unless it still carries problems of
// ours (then they must go, and the two differ).
func ownedGroupStatus(g *fcv1.NodesGroup) fcv1.NodesGroupStatus {
	st := *g.Status.DeepCopy()
	recorded := make(map[string]fcv1.NodeStatus, len(st.Nodes))
	for _, n := range st.Nodes {
		recorded[n.Name] = n
	}
	st.Nodes = nil
	for _, n := range g.Spec.Nodes {
		if r, ok := recorded[n.Name]; ok {
			st.Nodes = append(st.Nodes, fcv1.NodeStatus{Name: n.Name, Problems: r.Problems})
			delete(recorded, n.Name)
		}
	}
	for _, r := range recorded {
		if len(r.Problems) > 0 {
			st.Nodes = append(st.Nodes, fcv1.NodeStatus{Name: r.Name, Problems: r.Problems})
		}
	}
	return st
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
		// The model is resolved once for all the groups of a cluster; what is left of a pass
		// is mostly waiting for the API server, which several passes can do at once.
		WithOptions(controller.Options{MaxConcurrentReconciles: 4}).
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
