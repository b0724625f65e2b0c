package installserver

import (
	"context"
	"fmt"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/internal/agentapi"
	"github.com/flarecast/flarecast/internal/installplan"
	"github.com/flarecast/flarecast/internal/modelsource"
)

// Controller rebuilds the site's snapshot whenever the model of one of its Clusters may have
// changed: every watched change maps to the one request of the site, so changes that come
// together are built once.
type Controller struct {
	Reader    client.Reader
	Models    *modelsource.Source
	Namespace string
	SiteName  string
	Server    *Server

	// skipped is what the last snapshot left out, logged again only when it changes.
	skipped []string
}

// Reconcile builds the site's snapshot from the cache and puts it in force.
func (c *Controller) Reconcile(ctx context.Context, _ reconcile.Request) (ctrl.Result, error) {
	log := ctrl.LoggerFrom(ctx)
	clusters, err := modelsource.ClustersOfSite(ctx, c.Reader, c.Namespace, c.SiteName)
	if err != nil {
		return ctrl.Result{}, err
	}
	var members []Member
	for i := range clusters {
		cl := &clusters[i]
		if !cl.DeletionTimestamp.IsZero() {
			continue
		}
		res, err := c.Models.Resolve(ctx, cl)
		if err != nil {
			return ctrl.Result{}, fmt.Errorf("resolve Cluster %s: %w", cl.Name, err)
		}
		across, err := c.Models.Site(ctx, cl, res)
		if err != nil {
			return ctrl.Result{}, fmt.Errorf("resolve site %s: %w", c.SiteName, err)
		}
		members = append(members, Member{Cluster: cl, Result: res.Result.WithSite(cl.Name, across), Groups: res.Input.Groups})
	}
	site, err := BuildSite(members, c.Server.BootConfig(), c.Server.cfg.Secret)
	if err != nil {
		return ctrl.Result{}, err
	}
	if err := c.Server.SetSite(site); err != nil {
		// The table refused names what to fix; the last good one keeps serving.
		log.Error(err, "new site snapshot refused, the previous one keeps serving")
		return ctrl.Result{}, nil
	}
	if !slices.Equal(site.Skipped, c.skipped) {
		for _, s := range site.Skipped {
			log.Info("not served", "why", s)
		}
		c.skipped = site.Skipped
	}
	log.Info("site snapshot in force", "site", c.SiteName, "clusters", len(members), "nodes", len(site.byName))
	roots, err := c.disklessExports(ctx, site)
	if err != nil {
		return ctrl.Result{}, err
	}
	// The trees are made in the exports' own goroutine, not here.
	c.Server.Exports.SetWanted(WantedExports(site, roots))
	return ctrl.Result{}, nil
}

// disklessExports are the exports the site's Diskless groups want: each group whose
// deployable FlashArchive has been built, at its digest. A group whose deployable is not built
// yet has none (its nodes' plan requests say so).
func (c *Controller) disklessExports(ctx context.Context, site *Site) ([]DisklessExport, error) {
	var want []DisklessExport
	for _, g := range site.DisklessGroups() {
		var fa fcv1.FlashArchive
		name := c.Server.deployableName(g.Cluster, g.Group)
		switch err := c.Reader.Get(ctx, client.ObjectKey{Namespace: g.Namespace, Name: name}, &fa); {
		case apierrors.IsNotFound(err):
			continue
		case err != nil:
			return nil, fmt.Errorf("get the deployable FlashArchive %s of NodesGroup %s: %w", name, g.Group, err)
		}
		// The digest last built, whatever the phase: while the deployable is rebuilt (Building)
		// or its rebuild failed, the nodes running the last one keep their root. New nodes are
		// sent only a Ready archive's plan.
		if !agentapi.IsSHA256Digest(fa.Status.Digest) {
			continue
		}
		want = append(want, DisklessExport{Namespace: g.Namespace, Cluster: g.Cluster, Group: g.Group, Digest: fa.Status.Digest})
	}
	return want, nil
}

// SetupWithManager watches the site's model: Clusters, NodesGroups, Machines and Networks
// of the namespace (spec changes only: status writes, the install server's own included,
// change nothing it serves).
func (c *Controller) SetupWithManager(mgr ctrl.Manager) error {
	site := reconcile.Request{NamespacedName: types.NamespacedName{Namespace: c.Namespace, Name: c.SiteName}}
	toSite := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		if o.GetNamespace() != c.Namespace {
			return nil
		}
		return []reconcile.Request{site}
	})
	gen := builder.WithPredicates(predicate.GenerationChangedPredicate{})
	return ctrl.NewControllerManagedBy(mgr).
		Named("installserver").
		Watches(&fcv1.Cluster{}, toSite, gen).
		Watches(&fcv1.NodesGroup{}, toSite, gen).
		Watches(&fcv1.Machine{}, toSite, gen).
		Watches(&fcv1.Network{}, toSite, gen).
		// A deployable built or rebuilt changes a Diskless group's export: its status counts.
		Watches(&fcv1.FlashArchive{}, toSite, builder.WithPredicates(predicate.Funcs{
			UpdateFunc: func(e event.UpdateEvent) bool {
				o, ok1 := e.ObjectOld.(*fcv1.FlashArchive)
				n, ok2 := e.ObjectNew.(*fcv1.FlashArchive)
				return !ok1 || !ok2 || o.Status.Phase != n.Status.Phase || o.Status.Digest != n.Status.Digest
			},
		})).
		Complete(c)
}

// WantedExports adds to the roots the read-write exports of the site's nodes: each node of
// a group with Persistent writes (for its own address), and each shared data entry of a
// group the install server serves (for the group's nodes' addresses).
func WantedExports(site *Site, roots []DisklessExport) Wanted {
	w := Wanted{Roots: roots}
	type key struct{ ns, group, name string }
	data := map[key]*SharedDataExport{}
	for _, n := range site.Nodes() {
		if n.Diskless && n.Root == installplan.RootNFS && n.Writes == installplan.WritesPersistent {
			w.Nodes = append(w.Nodes, NodeWrites{Namespace: n.Ref.Namespace, Group: n.Group, Node: n.Ref.Node, Address: n.Address.Addr()})
		}
		for _, d := range n.SharedData {
			k := key{n.Ref.Namespace, n.Group, d.Name}
			x, ok := data[k]
			if !ok {
				x = &SharedDataExport{Namespace: k.ns, Group: k.group, Name: k.name, ReadOnly: d.Access == fcv1.DataReadOnly}
				data[k] = x
			}
			x.Clients = append(x.Clients, n.Address.Addr())
		}
	}
	for _, x := range data {
		w.Data = append(w.Data, *x)
	}
	return w
}
