package controllers

import (
	"context"
	"fmt"
	"sort"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/internal/model"
)

// messageLimit bounds how many problems a condition message spells out.
const messageLimit = 5

// ClusterReconciler resolves a Cluster's model (its groups, Machine and Network) and records
// whether it is complete and valid.
type ClusterReconciler struct {
	client.Client
	Recorder recorder.EventRecorder
}

// +kubebuilder:rbac:groups=flarecast.io,resources=clusters;nodesgroups;machines;networks;flasharchives,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=flarecast.io,resources=clusters/status;nodesgroups/status;machines/status;networks/status;flasharchives/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=flarecast.io,resources=clusters/finalizers;nodesgroups/finalizers;machines/finalizers;networks/finalizers;flasharchives/finalizers,verbs=update
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",resources=configmaps;secrets,verbs=get;list;watch

// Reconcile resolves the model and patches the Cluster's status.
func (r *ClusterReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var cl fcv1.Cluster
	if err := r.Get(ctx, req.NamespacedName, &cl); err != nil {
		if apierrors.IsNotFound(err) {
			forgetFindings(req.Namespace, req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !cl.DeletionTimestamp.IsZero() {
		// Nothing of a Cluster's own needs releasing; the Machine and Network reconcilers see
		// the reference go through their watch.
		return ctrl.Result{}, nil
	}
	in, err := loadModel(ctx, r.Client, &cl)
	if err != nil {
		return ctrl.Result{}, err
	}
	res := model.Resolve(in)
	site, err := siteProblems(ctx, r.Client, &cl, res)
	if err != nil {
		return ctrl.Result{}, err
	}
	res = res.WithSite(cl.Name, site)
	recordFindings(cl.Namespace, cl.Name, res)
	status := clusterStatus(r.Recorder, &cl, in, res)
	if err := r.archives(ctx, &cl, in.Groups, res, &status); err != nil {
		return ctrl.Result{}, err
	}
	if err := applyStatus(ctx, r.Client, &cl, &status); err != nil {
		return ctrl.Result{}, fmt.Errorf("patch status of Cluster %s: %w", req.NamespacedName, err)
	}
	logf.FromContext(ctx).V(1).Info("resolved cluster model", "complete", res.Complete(), "valid", res.Valid(),
		"problems", len(res.Problems), "missing", len(res.Missing))
	return ctrl.Result{}, nil
}

// loadModel gathers what model.Resolve needs for a cluster. A Machine or Network that is
// named but absent is left out: the model is then partial, not broken. One being deleted is
// passed on: the in-use finalizer holds it for this cluster, and the model keeps it, with a
// warning that it is going.
func loadModel(ctx context.Context, c client.Client, cl *fcv1.Cluster) (model.Input, error) {
	in := model.Input{Cluster: cl}
	groups, err := groupsOf(ctx, c, cl.Namespace, cl.Name)
	if err != nil {
		return in, fmt.Errorf("list groups of Cluster %s: %w", cl.Name, err)
	}
	sort.Slice(groups, func(i, j int) bool { return groups[i].Name < groups[j].Name })
	in.Groups = groups
	if in.Machines, err = machinesOf(ctx, c, cl); err != nil {
		return in, err
	}
	if ref := cl.Spec.NetworkRef; ref != nil {
		var n fcv1.Network
		switch err := c.Get(ctx, types.NamespacedName{Namespace: cl.Namespace, Name: ref.Name}, &n); {
		case err == nil:
			in.Network = &n
		case err != nil && !apierrors.IsNotFound(err):
			return in, fmt.Errorf("get Network %s: %w", ref.Name, err)
		}
	}
	return in, nil
}

// machinesOf gets the Machines of a cluster's spec.machineRefs that exist.
func machinesOf(ctx context.Context, c client.Reader, cl *fcv1.Cluster) ([]*fcv1.Machine, error) {
	var out []*fcv1.Machine
	for _, ref := range cl.Spec.MachineRefs {
		var m fcv1.Machine
		switch err := c.Get(ctx, types.NamespacedName{Namespace: cl.Namespace, Name: ref.Name}, &m); {
		case err == nil:
			out = append(out, &m)
		case !apierrors.IsNotFound(err):
			return nil, fmt.Errorf("get Machine %s: %w", ref.Name, err)
		}
	}
	return out, nil
}

func clusterStatus(rec recorder.EventRecorder, cl *fcv1.Cluster, in model.Input, res *model.Result) fcv1.ClusterStatus {
	st := fcv1.ClusterStatus{
		ObservedGeneration: cl.Generation,
		NodesByPhase:       nodesByPhase(in.Groups),
		Nodes: fcv1.NodeCounts{
			Total: res.Counts.Total, Placed: res.Counts.Placed,
			Addressed: res.Counts.Addressed, MasterEligible: res.Counts.MasterEligible,
		},
	}
	for _, g := range in.Groups {
		st.NodesGroups = append(st.NodesGroups, g.Name)
	}
	for _, m := range in.Machines {
		st.Machines = append(st.Machines, m.Name)
	}
	sort.Strings(st.Machines)
	if in.Network != nil {
		st.Network = in.Network.Name
	}

	complete := condition(cl, fcv1.ConditionModelComplete, true, fcv1.ReasonComplete,
		"every node is placed and addressed: deployable archives can be built")
	if !res.Complete() {
		complete = condition(cl, fcv1.ConditionModelComplete, false, reasonOf(res.Missing, ReasonMultipleMissing), summarize(res.Missing, messageLimit))
	}
	valid := condition(cl, fcv1.ConditionValid, true, fcv1.ReasonValid, "the model holds together")
	if len(res.Warnings) > 0 {
		valid.Message = "the model holds together, with warnings: " + summarize(res.Warnings, messageLimit)
	}
	if !res.Valid() {
		valid = condition(cl, fcv1.ConditionValid, false, reasonOf(res.Problems, ReasonMultipleProblems), summarize(res.Problems, messageLimit))
	}
	st.Conditions = setConditions(rec, cl, cl.Status.Conditions, complete, valid)
	return st
}

// nodesByPhase counts the nodes of the groups by the phase the install server recorded; a
// node it has not reported on yet is Pending.
func nodesByPhase(groups []fcv1.NodesGroup) map[string]int32 {
	counts := map[string]int32{}
	for _, g := range groups {
		phase := make(map[string]fcv1.NodePhase, len(g.Status.Nodes))
		for _, n := range g.Status.Nodes {
			phase[n.Name] = n.Phase
		}
		for _, n := range g.Spec.Nodes {
			p := phase[n.Name]
			if p == "" {
				p = fcv1.NodePending
			}
			counts[string(p)]++
		}
	}
	return counts
}

// SetupWithManager watches Clusters and what their model is made of. A change to one
// cluster of a site, or to what its model is made of, re-checks the other clusters of the
// site too: the rules across the site are theirs as well.
func (r *ClusterReconciler) SetupWithManager(mgr ctrl.Manager) error {
	gen := builder.WithPredicates(predicate.GenerationChangedPredicate{})
	return ctrl.NewControllerManagedBy(mgr).
		For(&fcv1.Cluster{}, gen).
		Watches(&fcv1.Cluster{}, r.siteMatesOfCluster(), gen).
		Watches(&fcv1.NodesGroup{}, handler.EnqueueRequestsFromMapFunc(r.clusterOfGroup)).
		Watches(&fcv1.Machine{}, handler.EnqueueRequestsFromMapFunc(r.clustersUsing(indexClusterMachine)), gen).
		Watches(&fcv1.Network{}, handler.EnqueueRequestsFromMapFunc(r.clustersUsing(indexClusterNetwork)), gen).
		Watches(&fcv1.FlashArchive{}, handler.EnqueueRequestsFromMapFunc(r.clustersOfArchive)).
		Named("cluster").
		Complete(r)
}

// clusterOfGroup maps a NodesGroup to the Cluster it names, and that Cluster's site mates.
// Group status changes (node phases) matter to the Cluster's counts, so every change
// enqueues it.
func (r *ClusterReconciler) clusterOfGroup(ctx context.Context, o client.Object) []reconcile.Request {
	g := o.(*fcv1.NodesGroup)
	return r.withSiteMates(ctx, g.Namespace, g.Spec.ClusterRef.Name)
}

func (r *ClusterReconciler) clustersUsing(index string) handler.MapFunc {
	return viaClusters(r.Client, index, r.withSiteMates)
}
