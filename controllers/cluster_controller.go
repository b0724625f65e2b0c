package controllers

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	"github.com/flarecast/flarecast/internal/modelsource"
)

// messageLimit bounds how many problems a condition message spells out.
const messageLimit = 5

// ClusterReconciler resolves a Cluster's model (its groups, Machines and Network) and records
// whether it is complete and valid.
type ClusterReconciler struct {
	client.Client
	Recorder recorder.EventRecorder
	// Models resolves each cluster's model once per change, for every reconciler.
	Models *modelsource.Source
}

// +kubebuilder:rbac:groups=flarecast.io,resources=clusters;nodesgroups;machines;networks;flasharchives,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=flarecast.io,resources=clusters/status;nodesgroups/status;machines/status;networks/status;flasharchives/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=flarecast.io,resources=clusters/finalizers;nodesgroups/finalizers;machines/finalizers;networks/finalizers;flasharchives/finalizers,verbs=update
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",resources=configmaps;secrets,verbs=get;list;watch

// Reconcile resolves the model and patches the Cluster's status. An error on the way ends
// in the conditions the failed step decides (see recordFailure), on every return path.
func (r *ClusterReconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, err error) {
	var cl fcv1.Cluster
	if err := r.Get(ctx, req.NamespacedName, &cl); err != nil {
		if apierrors.IsNotFound(err) {
			forgetFindings(req.Namespace, req.Name)
			r.Models.Forget(req.Namespace, req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !cl.DeletionTimestamp.IsZero() {
		// Nothing of a Cluster's own needs releasing; the Machine and Network reconcilers see
		// the reference go through their watch.
		return ctrl.Result{}, nil
	}
	// failing are the conditions the step under way decides: an error there leaves them
	// Unknown with the error, and the rest of the status as it was.
	failing := []string{fcv1.ConditionModelComplete, fcv1.ConditionValid}
	defer func() {
		if err != nil {
			err = recordFailure(ctx, r.Client, r.Recorder, &cl, err, failing, ownClusterConditions(cl.Status.Conditions), func(conds []metav1.Condition) any {
				st := ownClusterStatus(*cl.Status.DeepCopy())
				st.Conditions = conds
				return st
			})
		}
	}()
	rs, err := r.Models.Resolve(ctx, &cl)
	if err != nil {
		return ctrl.Result{}, err
	}
	site, err := r.Models.Site(ctx, &cl, rs)
	if err != nil {
		return ctrl.Result{}, err
	}
	in, res := rs.Input, rs.Result.WithSite(cl.Name, site)
	recordFindings(cl.Namespace, cl.Name, res)
	status := clusterStatus(r.Recorder, &cl, in, res)
	failing = []string{fcv1.ConditionArchivesReady}
	if err := r.archives(ctx, &cl, in.Groups, res, &status); err != nil {
		return ctrl.Result{}, err
	}
	r.deployment(&cl, in.Groups, &status)
	failing = nil // a status that cannot be written cannot record that either
	if err := writeStatus(ctx, r.Client, &cl, equality.Semantic.DeepEqual(ownClusterStatus(cl.Status), &status), &status); err != nil {
		return ctrl.Result{}, fmt.Errorf("patch status of Cluster %s: %w", req.NamespacedName, err)
	}
	logf.FromContext(ctx).V(1).Info("resolved cluster model", "complete", res.Complete(), "valid", res.Valid(),
		"problems", len(res.Problems), "missing", len(res.Missing))
	return ctrl.Result{}, nil
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
	st.Conditions = setConditions(rec, cl, ownClusterConditions(cl.Status.Conditions), complete, valid)
	return st
}

// ownClusterConditions are the conditions the Cluster reconciler writes: the install
// server's condition is the InstallServerReconciler's, under its own field manager.
func ownClusterConditions(conds []metav1.Condition) []metav1.Condition {
	return slices.DeleteFunc(slices.Clone(conds), func(c metav1.Condition) bool { return c.Type == fcv1.ConditionInstallServerReady })
}

// ownClusterStatus is the part of a Cluster's status the Cluster reconciler writes.
func ownClusterStatus(st fcv1.ClusterStatus) *fcv1.ClusterStatus {
	st.Conditions = ownClusterConditions(st.Conditions)
	st.InstallServer = nil
	return &st
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
