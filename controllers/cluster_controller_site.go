package controllers

import (
	"context"

	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/internal/model"
	"github.com/flarecast/flarecast/internal/modelsource"
)

// withSiteMates is the request for a cluster and those of the other clusters of its site.
func (r *ClusterReconciler) withSiteMates(ctx context.Context, namespace, cluster string) []reconcile.Request {
	reqs := []reconcile.Request{requestFor(namespace, cluster)}
	var cl fcv1.Cluster
	if err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: cluster}, &cl); err != nil {
		return reqs // a cluster that is not there has no site
	}
	return append(reqs, r.mates(ctx, namespace, model.SiteOf(&cl), cluster)...)
}

// mates are the requests of the clusters of a site but one.
func (r *ClusterReconciler) mates(ctx context.Context, namespace, site, except string) []reconcile.Request {
	if site == "" {
		return nil
	}
	clusters, err := modelsource.ClustersOfSite(ctx, r.Client, namespace, site)
	if err != nil {
		logf.FromContext(ctx).Error(err, "list site mates", "site", site)
		return nil
	}
	var reqs []reconcile.Request
	for _, o := range clusters {
		if o.Name != except {
			reqs = append(reqs, requestFor(namespace, o.Name))
		}
	}
	return reqs
}

// siteMatesOfCluster enqueues, for a Cluster that appears, changes or goes, the other
// clusters of its site; on a change of site, those of the site it left as well, which no
// longer share an install server with it.
func (r *ClusterReconciler) siteMatesOfCluster() handler.EventHandler {
	type queue = workqueue.TypedRateLimitingInterface[reconcile.Request]
	add := func(ctx context.Context, q queue, cl client.Object) {
		c := cl.(*fcv1.Cluster)
		for _, req := range r.mates(ctx, c.Namespace, model.SiteOf(c), c.Name) {
			q.Add(req)
		}
	}
	return handler.Funcs{
		CreateFunc: func(ctx context.Context, e event.CreateEvent, q queue) { add(ctx, q, e.Object) },
		UpdateFunc: func(ctx context.Context, e event.UpdateEvent, q queue) {
			add(ctx, q, e.ObjectOld)
			add(ctx, q, e.ObjectNew)
		},
		DeleteFunc: func(ctx context.Context, e event.DeleteEvent, q queue) { add(ctx, q, e.Object) },
	}
}
