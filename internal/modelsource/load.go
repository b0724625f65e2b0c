package modelsource

import (
	"context"
	"fmt"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/internal/model"
)

// Field indexes the loader lists through.
const (
	// IndexGroupCluster finds the NodesGroups of a Cluster.
	IndexGroupCluster = "spec.clusterRef.name"
	// IndexClusterSite finds the Clusters of a site.
	IndexClusterSite = "spec.installServer.site"
)

// IndexFields registers the field indexes the loader needs on a cache's indexer.
func IndexFields(ctx context.Context, idx client.FieldIndexer) error {
	if err := idx.IndexField(ctx, &fcv1.NodesGroup{}, IndexGroupCluster, func(o client.Object) []string {
		return []string{o.(*fcv1.NodesGroup).Spec.ClusterRef.Name}
	}); err != nil {
		return fmt.Errorf("index NodesGroup by cluster: %w", err)
	}
	if err := idx.IndexField(ctx, &fcv1.Cluster{}, IndexClusterSite, func(o client.Object) []string {
		if site := model.SiteOf(o.(*fcv1.Cluster)); site != "" {
			return []string{site}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("index Cluster by site: %w", err)
	}
	return nil
}

// Load gathers what model.Resolve needs for a cluster, and the key of that input: a stamp of
// the Cluster and of every object read (see stamp). A Machine or Network that is named but
// absent is left out (the model is then partial, not broken) and is part of the key as
// absent. One being deleted is passed on: the in-use finalizer holds it for this cluster,
// and the model keeps it, with a warning that it is going.
//
// The objects come from the Reader without a copy: they are the cache's, read-only.
func Load(ctx context.Context, c client.Reader, cl *fcv1.Cluster) (model.Input, string, error) {
	in := model.Input{Cluster: cl}
	var key strings.Builder
	fmt.Fprintf(&key, "c=%s", stamp(cl))
	groups, err := GroupsOf(ctx, c, cl.Namespace, cl.Name)
	if err != nil {
		return in, "", err
	}
	in.Groups = groups
	for i := range groups {
		g := &groups[i]
		fmt.Fprintf(&key, " g/%s=%s", g.Name, stamp(g))
	}
	for _, ref := range cl.Spec.MachineRefs {
		var m fcv1.Machine
		switch err := c.Get(ctx, client.ObjectKey{Namespace: cl.Namespace, Name: ref.Name}, &m, client.UnsafeDisableDeepCopy); {
		case err == nil:
			in.Machines = append(in.Machines, &m)
			fmt.Fprintf(&key, " m/%s=%s", ref.Name, stamp(&m))
		case apierrors.IsNotFound(err):
			fmt.Fprintf(&key, " m/%s=-", ref.Name)
		default:
			return in, "", fmt.Errorf("get Machine %s of Cluster %s: %w", ref.Name, cl.Name, err)
		}
	}
	if ref := cl.Spec.NetworkRef; ref != nil {
		var n fcv1.Network
		switch err := c.Get(ctx, client.ObjectKey{Namespace: cl.Namespace, Name: ref.Name}, &n, client.UnsafeDisableDeepCopy); {
		case err == nil:
			in.Network = &n
			fmt.Fprintf(&key, " n/%s=%s", ref.Name, stamp(&n))
		case apierrors.IsNotFound(err):
			fmt.Fprintf(&key, " n/%s=-", ref.Name)
		default:
			return in, "", fmt.Errorf("get Network %s of Cluster %s: %w", ref.Name, cl.Name, err)
		}
	}
	return in, key.String(), nil
}

// GroupsOf lists the NodesGroups that name a cluster, sorted by name, from the cache and
// without a copy.
func GroupsOf(ctx context.Context, c client.Reader, namespace, cluster string) ([]fcv1.NodesGroup, error) {
	var list fcv1.NodesGroupList
	if err := c.List(ctx, &list, client.InNamespace(namespace), client.MatchingFields{IndexGroupCluster: cluster}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("list NodesGroups of Cluster %s: %w", cluster, err)
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
	return list.Items, nil
}

// ClustersOfSite lists the Clusters of a namespace that name the site, sorted by name.
func ClustersOfSite(ctx context.Context, c client.Reader, namespace, site string) ([]fcv1.Cluster, error) {
	var list fcv1.ClusterList
	if err := c.List(ctx, &list, client.InNamespace(namespace), client.MatchingFields{IndexClusterSite: site}); err != nil {
		return nil, fmt.Errorf("list Clusters of site %s: %w", site, err)
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
	return list.Items, nil
}

// stamp says which version of an object's model a resolution was made from: its UID (one
// deleted and made again is another object) and generation (moved by every change of its
// spec), and the two things of its metadata the model reads: whether it is being deleted
// and the finalizers that hold it. Not its resourceVersion, which every status write moves:
// the reconcilers' own writes would then invalidate the resolution they were made from.
func stamp(o client.Object) string {
	s := fmt.Sprintf("%s/%d", o.GetUID(), o.GetGeneration())
	if o.GetDeletionTimestamp() != nil {
		s += "/deleting[" + strings.Join(o.GetFinalizers(), ",") + "]"
	}
	return s
}
