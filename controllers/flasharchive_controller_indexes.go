package controllers

import (
	"context"
	"fmt"
	"strings"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
)

// Field indexes of FlashArchives: a base's change wakes exactly the archives derived from it,
// a model change exactly the deployables of that cluster.
const (
	indexArchiveBase    = "spec.baseRef.name"
	indexArchiveCluster = "spec.clusterRef.name"
	// indexGroupArchive finds the NodesGroups that name an archive in spec.archiveRef: they
	// hold it as firmly as a derived archive does, since their next deployable is made from it.
	indexGroupArchive = "spec.archiveRef.name"
)

// SetupArchiveIndexes registers the FlashArchive and NodesGroup indexes the Cluster and
// NodesGroup reconcilers list through, for a manager that runs them without the FlashArchive
// reconciler (a test that publishes the deployables itself).
func SetupArchiveIndexes(ctx context.Context, mgr ctrl.Manager) error {
	return setupArchiveIndexes(ctx, mgr)
}

func setupArchiveIndexes(ctx context.Context, mgr ctrl.Manager) error {
	idx := mgr.GetFieldIndexer()
	if err := idx.IndexField(ctx, &fcv1.FlashArchive{}, indexArchiveBase, func(o client.Object) []string {
		if ref := o.(*fcv1.FlashArchive).Spec.BaseRef; ref != nil {
			return []string{ref.Name}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("index FlashArchive by base: %w", err)
	}
	if err := idx.IndexField(ctx, &fcv1.FlashArchive{}, indexArchiveCluster, func(o client.Object) []string {
		if ref := o.(*fcv1.FlashArchive).Spec.ClusterRef; ref != nil {
			return []string{ref.Name}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("index FlashArchive by cluster: %w", err)
	}
	if err := idx.IndexField(ctx, &fcv1.FlashArchive{}, indexArchiveBuildGroup, func(o client.Object) []string {
		if g := buildGroupOf(o.(*fcv1.FlashArchive)); g != "" {
			return []string{g}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("index FlashArchive by build group: %w", err)
	}
	if err := idx.IndexField(ctx, &fcv1.NodesGroup{}, indexGroupArchive, func(o client.Object) []string {
		if ref := o.(*fcv1.NodesGroup).Spec.ArchiveRef; ref != nil {
			return []string{ref.Name}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("index NodesGroup by archive: %w", err)
	}
	return nil
}

// archivesReferencing lists the FlashArchives of a namespace whose index field names name.
func archivesReferencing(ctx context.Context, c client.Reader, index, namespace, name string) ([]fcv1.FlashArchive, error) {
	var list fcv1.FlashArchiveList
	if err := c.List(ctx, &list, client.InNamespace(namespace), client.MatchingFields{index: name}); err != nil {
		return nil, err
	}
	return list.Items, nil
}

// archiveReferrers are what holds an archive: the FlashArchives derived from it, and the
// NodesGroups that name it in spec.archiveRef (their deployable is made from it, and one
// deleted under them would leave the group with nothing to install). Names carry their kind,
// since both kinds may hold the same archive.
var archiveReferrers = referrers{Kind: "FlashArchive or NodesGroup", Qualified: true, List: func(ctx context.Context, c client.Reader, ns, name string) ([]string, string, error) {
	items, err := archivesReferencing(ctx, c, indexArchiveBase, ns, name)
	if err != nil {
		return nil, "", err
	}
	var groups fcv1.NodesGroupList
	if err := c.List(ctx, &groups, client.InNamespace(ns), client.MatchingFields{indexGroupArchive: name}); err != nil {
		return nil, "", err
	}
	names := make([]string, 0, len(items)+len(groups.Items))
	var fields []string
	derived, deployable := false, false
	for _, fa := range items {
		names = append(names, "FlashArchive/"+fa.Name)
		derived = derived || fa.Spec.Type != fcv1.ArchiveDeployable
		deployable = deployable || fa.Spec.Type == fcv1.ArchiveDeployable
	}
	for _, g := range groups.Items {
		names = append(names, "NodesGroup/"+g.Name)
	}
	if derived {
		fields = append(fields, "spec.baseRef (FlashArchive)")
	}
	if deployable || len(groups.Items) > 0 {
		// A deployable's baseRef is written from its group: clearing it there would be undone.
		fields = append(fields, "spec.archiveRef (NodesGroup)")
	}
	return names, strings.Join(fields, " and "), nil
}}
