package controllers

import (
	"context"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
)

// SetupWithManager watches FlashArchives and everything a build's inputs come from: the base
// (its status), the cluster model of a deployable, the ConfigMaps and Secrets that hold
// content (metadata only), and the executor's reports — a channel for the local executor,
// owned Jobs for the job executor.
func (r *FlashArchiveReconciler) SetupWithManager(mgr ctrl.Manager, done <-chan event.GenericEvent, ownsJobs bool) error {
	gen := builder.WithPredicates(predicate.GenerationChangedPredicate{})
	b := ctrl.NewControllerManagedBy(mgr).
		For(&fcv1.FlashArchive{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{},
			predicate.AnnotationChangedPredicate{}, finalizerOrDeletionChanged()))).
		Watches(&fcv1.FlashArchive{}, handler.EnqueueRequestsFromMapFunc(r.relatedArchives)).
		// The install server records a capture's uploads in its status; a node's phase in its
		// group's status says whether it can be captured.
		Watches(&fcv1.FlashArchive{}, &handler.EnqueueRequestForObject{}, builder.WithPredicates(captureChanged())).
		Watches(&fcv1.NodesGroup{}, handler.EnqueueRequestsFromMapFunc(r.capturesOfGroup)).
		Watches(&fcv1.Cluster{}, handler.EnqueueRequestsFromMapFunc(r.capturesOfCluster), gen).
		Watches(&fcv1.Cluster{}, handler.EnqueueRequestsFromMapFunc(r.deployablesOfCluster), gen).
		Watches(&fcv1.NodesGroup{}, handler.EnqueueRequestsFromMapFunc(r.deployablesOfGroup), gen).
		// Both the archive a group names now and the one it named before (the map function
		// sees the old and the new object of an update): one gains a holder, the other loses it.
		Watches(&fcv1.NodesGroup{}, handler.EnqueueRequestsFromMapFunc(archiveOfGroup), gen).
		Watches(&fcv1.NodesGroup{}, handler.EnqueueRequestsFromMapFunc(r.archivesBuildingGroup), gen).
		Watches(&fcv1.Machine{}, handler.EnqueueRequestsFromMapFunc(r.deployablesVia(indexClusterMachine)), gen).
		Watches(&fcv1.Network{}, handler.EnqueueRequestsFromMapFunc(r.deployablesVia(indexClusterNetwork)), gen).
		Watches(&corev1.ConfigMap{}, handler.EnqueueRequestsFromMapFunc(r.archivesUsingContent("ConfigMap")), builder.OnlyMetadata).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.archivesUsingContent("Secret")), builder.OnlyMetadata)
	if done != nil {
		b = b.WatchesRawSource(source.Channel(done, &handler.EnqueueRequestForObject{}))
	}
	if ownsJobs {
		b = b.Owns(&batchv1.Job{})
	}
	return b.Named("flasharchive").Complete(r)
}

// captureChanged passes the updates of an archive's status.capture.
func captureChanged() predicate.Funcs {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		o, ok1 := e.ObjectOld.(*fcv1.FlashArchive)
		n, ok2 := e.ObjectNew.(*fcv1.FlashArchive)
		return ok1 && ok2 && !equality.Semantic.DeepEqual(o.Status.Capture, n.Status.Capture)
	}}
}

// relatedArchives maps a FlashArchive change to the archives it concerns: its base (whose
// InUse condition lists it, and which it may release by going), the archives derived from it
// (they wait for it to be Ready), and, when one of those is a deployable, every deployable of
// that cluster (they share one software-load descriptor, which names every group's archive).
func (r *FlashArchiveReconciler) relatedArchives(ctx context.Context, o client.Object) []reconcile.Request {
	fa := o.(*fcv1.FlashArchive)
	var reqs []reconcile.Request
	if fa.Spec.BaseRef != nil {
		reqs = append(reqs, requestFor(fa.Namespace, fa.Spec.BaseRef.Name))
	}
	derived, err := archivesReferencing(ctx, r.Client, indexArchiveBase, fa.Namespace, fa.Name)
	if err != nil {
		logf.FromContext(ctx).Error(err, "list derived archives", "archive", fa.Name)
		return reqs
	}
	clusters := map[string]bool{}
	for _, d := range derived {
		reqs = append(reqs, requestFor(d.Namespace, d.Name))
		if d.Spec.ClusterRef != nil {
			clusters[d.Spec.ClusterRef.Name] = true
		}
	}
	for c := range clusters {
		reqs = append(reqs, r.deployables(ctx, fa.Namespace, c)...)
	}
	return reqs
}

func (r *FlashArchiveReconciler) deployables(ctx context.Context, namespace, cluster string) []reconcile.Request {
	items, err := archivesReferencing(ctx, r.Client, indexArchiveCluster, namespace, cluster)
	if err != nil {
		logf.FromContext(ctx).Error(err, "list deployables", "cluster", cluster)
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(items))
	for _, d := range items {
		reqs = append(reqs, requestFor(d.Namespace, d.Name))
	}
	return reqs
}

func (r *FlashArchiveReconciler) deployablesOfCluster(ctx context.Context, o client.Object) []reconcile.Request {
	return r.deployables(ctx, o.GetNamespace(), o.GetName())
}

func (r *FlashArchiveReconciler) deployablesOfGroup(ctx context.Context, o client.Object) []reconcile.Request {
	return r.deployables(ctx, o.GetNamespace(), o.(*fcv1.NodesGroup).Spec.ClusterRef.Name)
}

func archiveOfGroup(_ context.Context, o client.Object) []reconcile.Request {
	g := o.(*fcv1.NodesGroup)
	if g.Spec.ArchiveRef == nil {
		return nil
	}
	return []reconcile.Request{requestFor(g.Namespace, g.Spec.ArchiveRef.Name)}
}

func (r *FlashArchiveReconciler) deployablesVia(index string) handler.MapFunc {
	return viaClusters(r.Client, index, r.deployables)
}

// archivesUsingContent maps a ConfigMap or Secret to the archives whose content may come from
// it: Configured archives that name it, and the deployables of every cluster whose templates
// or groups' configuration name it. It lists from the cache; ConfigMaps are few per
// namespace next to the archives that matter.
func (r *FlashArchiveReconciler) archivesUsingContent(kind string) handler.MapFunc {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		ns, name := o.GetNamespace(), o.GetName()
		var reqs []reconcile.Request
		var archives fcv1.FlashArchiveList
		if err := r.List(ctx, &archives, client.InNamespace(ns)); err != nil {
			logf.FromContext(ctx).Error(err, "list archives", "namespace", ns)
			return nil
		}
		for _, fa := range archives.Items {
			if names(fa.Spec.Configuration, kind)[name] || kind == "Secret" && pullSecretOf(&fa) == name {
				reqs = append(reqs, requestFor(ns, fa.Name))
			}
		}
		var clusters fcv1.ClusterList
		if err := r.List(ctx, &clusters, client.InNamespace(ns)); err != nil {
			logf.FromContext(ctx).Error(err, "list clusters", "namespace", ns)
			return reqs
		}
		for _, cl := range clusters.Items {
			uses := false
			for _, s := range cl.Spec.FoundationServices {
				uses = uses || names(&fcv1.Configuration{Files: s.Templates}, kind)[name]
			}
			groups, err := groupsOf(ctx, r.Client, ns, cl.Name)
			if err != nil {
				logf.FromContext(ctx).Error(err, "list groups", "cluster", cl.Name)
			}
			for _, g := range groups {
				uses = uses || names(g.Spec.Configuration, kind)[name]
			}
			if uses {
				reqs = append(reqs, r.deployables(ctx, ns, cl.Name)...)
			}
		}
		return reqs
	}
}

// names lists the ConfigMaps (or Secrets) a configuration takes content from.
func names(c *fcv1.Configuration, kind string) map[string]bool {
	out := map[string]bool{}
	if c == nil {
		return out
	}
	add := func(src fcv1.ConfigSource) {
		if kind == "ConfigMap" && src.ConfigMapKeyRef != nil {
			out[src.ConfigMapKeyRef.Name] = true
		}
		if kind == "Secret" && src.SecretKeyRef != nil {
			out[src.SecretKeyRef.Name] = true
		}
	}
	for _, f := range c.Files {
		add(f.Source)
	}
	for _, s := range c.Scripts {
		add(s.Source)
	}
	return out
}

// pullSecretOf is the Secret an image source's credentials come from, if it names one.
func pullSecretOf(fa *fcv1.FlashArchive) string {
	if src := fa.Spec.Source; src != nil && src.Image != nil && src.Image.PullSecretRef != nil {
		return src.Image.PullSecretRef.Name
	}
	return ""
}
