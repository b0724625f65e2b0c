package controllers

import (
	"context"
	"fmt"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
)

// Field indexes of FlashArchives: a base's change wakes exactly the archives derived from it,
// a model change exactly the deployables of that cluster.
const (
	indexArchiveBase    = "spec.baseRef.name"
	indexArchiveCluster = "spec.clusterRef.name"
)

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

// archiveReferrers are the FlashArchives derived from an archive: it may not go while they
// exist. A deployable's baseRef is written from its group, so that is where to clear it.
var archiveReferrers = referrers{Kind: "FlashArchive", List: func(ctx context.Context, c client.Reader, ns, name string) ([]string, string, error) {
	items, err := archivesReferencing(ctx, c, indexArchiveBase, ns, name)
	names := make([]string, 0, len(items))
	field := "spec.baseRef"
	for _, fa := range items {
		names = append(names, fa.Name)
		if fa.Spec.Type == fcv1.ArchiveDeployable {
			field = "spec.baseRef (of a deployable: its NodesGroup's spec.archiveRef)"
		}
	}
	return names, field, err
}}
