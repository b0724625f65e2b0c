package controllers

import (
	"context"
	"fmt"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/internal/modelsource"
)

// Field index names. Watch handlers list through them, so a change to a Machine re-evaluates
// exactly the Clusters that reference it, from the cache, without a scan.
const (
	indexGroupCluster   = modelsource.IndexGroupCluster
	indexClusterMachine = "spec.machineRefs.name"
	indexClusterNetwork = "spec.networkRef.name"
	// indexClusterSite finds the Clusters of a site: a change to one re-checks the others.
	indexClusterSite = modelsource.IndexClusterSite
)

// SetupIndexes registers the field indexes every reconciler relies on. Call it once per
// manager, before the reconcilers are set up.
func SetupIndexes(ctx context.Context, mgr ctrl.Manager) error {
	idx := mgr.GetFieldIndexer()
	// The model loader's own indexes: the install server registers them too.
	if err := modelsource.IndexFields(ctx, idx); err != nil {
		return err
	}
	if err := idx.IndexField(ctx, &fcv1.Cluster{}, indexClusterMachine, func(o client.Object) []string {
		refs := o.(*fcv1.Cluster).Spec.MachineRefs
		names := make([]string, 0, len(refs))
		for _, ref := range refs {
			names = append(names, ref.Name)
		}
		return names
	}); err != nil {
		return fmt.Errorf("index Cluster by machine: %w", err)
	}
	if err := idx.IndexField(ctx, &fcv1.Cluster{}, indexClusterNetwork, func(o client.Object) []string {
		if ref := o.(*fcv1.Cluster).Spec.NetworkRef; ref != nil {
			return []string{ref.Name}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("index Cluster by network: %w", err)
	}
	return nil
}

// clustersReferencing lists the names of the Clusters of a namespace whose index field names obj.
func clustersReferencing(ctx context.Context, c client.Reader, index, namespace, name string) ([]string, error) {
	var list fcv1.ClusterList
	if err := c.List(ctx, &list, client.InNamespace(namespace), client.MatchingFields{index: name}); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(list.Items))
	for _, cl := range list.Items {
		names = append(names, cl.Name)
	}
	return names, nil
}

// viaClusters maps a Machine or Network to the requests each Cluster that references it
// (through index) asks for: the Cluster itself, its groups, its deployables.
func viaClusters(c client.Reader, index string, each func(ctx context.Context, namespace, cluster string) []reconcile.Request) handler.MapFunc {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		clusters, err := clustersReferencing(ctx, c, index, o.GetNamespace(), o.GetName())
		if err != nil {
			logf.FromContext(ctx).Error(err, "list clusters", "index", index, "object", o.GetName())
			return nil
		}
		var reqs []reconcile.Request
		for _, cl := range clusters {
			reqs = append(reqs, each(ctx, o.GetNamespace(), cl)...)
		}
		return reqs
	}
}

// groupsOf lists the NodesGroups that name a cluster, sorted by name. They are the cache's
// own objects, not copies: read them, never change them.
func groupsOf(ctx context.Context, c client.Reader, namespace, cluster string) ([]fcv1.NodesGroup, error) {
	return modelsource.GroupsOf(ctx, c, namespace, cluster)
}
