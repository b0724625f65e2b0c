package controllers

import (
	"context"
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/internal/model"
)

// archives records, in a Cluster's status, its software load (the descriptor's digest and
// each group's deployable archive) and the ArchivesReady condition. The Cluster reconciler
// calls it, so one field manager writes the whole Cluster status.
func (r *ClusterReconciler) archives(ctx context.Context, cl *fcv1.Cluster, groups []fcv1.NodesGroup, res *model.Result, st *fcv1.ClusterStatus) error {
	swl, ready, err := softwareLoadStatus(ctx, r.Client, cl, groups, res)
	if err != nil {
		return err
	}
	st.SoftwareLoad = swl
	st.Conditions = setConditions(r.Recorder, cl, st.Conditions, ready)
	return nil
}

func softwareLoadStatus(ctx context.Context, c client.Reader, cl *fcv1.Cluster, groups []fcv1.NodesGroup, res *model.Result) (*fcv1.SoftwareLoad, metav1.Condition, error) {
	notReady := func(reason, format string, args ...any) metav1.Condition {
		return condition(cl, fcv1.ConditionArchivesReady, false, reason, fmt.Sprintf(format, args...))
	}
	switch {
	case len(groups) == 0:
		return nil, notReady(fcv1.ReasonNoGroups, "no NodesGroup names this cluster"), nil
	case !res.Complete():
		return nil, notReady(ReasonModelNotReady, "deployable archives wait for the model to be complete"), nil
	case !res.Valid():
		return nil, notReady(ReasonModelNotReady, "deployable archives wait for the model to be valid"), nil
	}
	deployables, err := archivesReferencing(ctx, c, indexArchiveCluster, cl.Namespace, cl.Name)
	if err != nil {
		return nil, metav1.Condition{}, fmt.Errorf("list deployables of Cluster %s: %w", cl.Name, err)
	}
	swl := &fcv1.SoftwareLoad{}
	var noRef, waiting []string
	for _, g := range groups {
		if g.Spec.ArchiveRef == nil {
			noRef = append(noRef, g.Name)
			continue
		}
		fa := deployableOf(deployables, cl.Name, g.Name)
		if fa == nil {
			waiting = append(waiting, fmt.Sprintf("NodesGroup %s has no deployable FlashArchive yet", g.Name))
			continue
		}
		entry := fcv1.SoftwareLoadArchive{NodesGroup: g.Name, FlashArchive: fa.Name}
		if archiveReady(fa) {
			entry.Digest = fa.Status.Digest
		} else {
			waiting = append(waiting, fmt.Sprintf("FlashArchive %s is %s", fa.Name, phaseOf(fa)))
		}
		swl.Archives = append(swl.Archives, entry)
	}
	load, p, err := softwareLoad(ctx, c, cl, groups, nil)
	if err != nil {
		return nil, metav1.Condition{}, err
	}
	if load != nil {
		swl.DescriptorDigest = string(load.Digest())
	}
	switch {
	case len(noRef) > 0:
		return swl, notReady(ReasonNoArchiveRef, "NodesGroup %s names no archive (spec.archiveRef): it has no deployable archive", strings.Join(noRef, ", ")), nil
	case load == nil:
		return swl, notReady(p.reason, "%s", p.message), nil
	case len(waiting) > 0:
		return swl, notReady(ReasonArchivesNotReady, "%s", strings.Join(waiting, "; ")), nil
	}
	return swl, condition(cl, fcv1.ConditionArchivesReady, true, ReasonArchivesBuilt,
		fmt.Sprintf("every group's deployable archive is built; software-load descriptor %s", swl.DescriptorDigest)), nil
}

// deployableOf picks a group's deployable: the one the controller makes, else one made by
// hand.
func deployableOf(items []fcv1.FlashArchive, cluster, group string) *fcv1.FlashArchive {
	var found *fcv1.FlashArchive
	for i := range items {
		fa := &items[i]
		if fa.Spec.Type != fcv1.ArchiveDeployable || fa.Spec.NodesGroupRef == nil || fa.Spec.NodesGroupRef.Name != group {
			continue
		}
		if fa.Name == DeployableName(cluster, group) {
			return fa
		}
		if found == nil {
			found = fa
		}
	}
	return found
}

// clustersOfArchive maps a FlashArchive to the Clusters whose software load it is part of: a
// deployable's cluster, or the clusters of the deployables derived from it.
func (r *ClusterReconciler) clustersOfArchive(ctx context.Context, o client.Object) []reconcile.Request {
	fa := o.(*fcv1.FlashArchive)
	if fa.Spec.ClusterRef != nil {
		return []reconcile.Request{requestFor(fa.Namespace, fa.Spec.ClusterRef.Name)}
	}
	derived, err := archivesReferencing(ctx, r.Client, indexArchiveBase, fa.Namespace, fa.Name)
	if err != nil {
		logf.FromContext(ctx).Error(err, "list derived archives", "archive", fa.Name)
		return nil
	}
	var reqs []reconcile.Request
	for _, d := range derived {
		if d.Spec.ClusterRef != nil {
			reqs = append(reqs, requestFor(d.Namespace, d.Spec.ClusterRef.Name))
		}
	}
	return reqs
}
