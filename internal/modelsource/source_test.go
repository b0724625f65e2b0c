package modelsource

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/internal/model"
	"github.com/flarecast/flarecast/internal/sitegen"
)

// world is a fake API server's store holding generated clusters: the Source's behaviour
// (keys, sharing, forgetting) depends on resourceVersions and indexes, which the fake
// client keeps as the API server does, and on nothing the server alone does.
func world(t testing.TB, sites ...*sitegen.Site) client.Client {
	t.Helper()
	s := runtime.NewScheme()
	if err := fcv1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	b := fake.NewClientBuilder().WithScheme(s).
		WithStatusSubresource(&fcv1.Cluster{}, &fcv1.NodesGroup{}, &fcv1.Machine{}, &fcv1.Network{}).
		WithIndex(&fcv1.NodesGroup{}, IndexGroupCluster, func(o client.Object) []string {
			return []string{o.(*fcv1.NodesGroup).Spec.ClusterRef.Name}
		}).
		WithIndex(&fcv1.Cluster{}, IndexClusterSite, func(o client.Object) []string {
			if site := model.SiteOf(o.(*fcv1.Cluster)); site != "" {
				return []string{site}
			}
			return nil
		})
	for _, site := range sites {
		b = b.WithObjects(site.Cluster, site.Network)
		for _, m := range site.Machines {
			b = b.WithObjects(m)
		}
		for _, g := range site.Groups {
			b = b.WithObjects(g)
		}
	}
	return b.Build()
}

func generate(t testing.TB, shape sitegen.Shape) *sitegen.Site {
	t.Helper()
	shape.Namespace = "ns"
	site, err := sitegen.Generate(shape)
	if err != nil {
		t.Fatal(err)
	}
	return site
}

func cluster(t testing.TB, c client.Reader, name string) *fcv1.Cluster {
	t.Helper()
	var cl fcv1.Cluster
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: name}, &cl); err != nil {
		t.Fatal(err)
	}
	return &cl
}

func resolve(t testing.TB, src *Source, c client.Reader, name string) *Resolution {
	t.Helper()
	rs, err := src.Resolve(context.Background(), cluster(t, c, name))
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func wantRuns(t *testing.T, src *Source, clusters, sites int64) {
	t.Helper()
	if c, s := src.Runs(); c != clusters || s != sites {
		t.Fatalf("resolutions run: %d of clusters and %d of sites, want %d and %d", c, s, clusters, sites)
	}
}

func TestResolvesOncePerChangeOfAnyInput(t *testing.T) {
	ctx := context.Background()
	c := world(t, generate(t, sitegen.Shape{Nodes: 40, Groups: 4, Machines: 2, Cluster: "a"}))
	src := New(c)
	first := resolve(t, src, c, "a")
	if !first.Result.Complete() || !first.Result.Valid() {
		t.Fatalf("generated cluster: missing %v, problems %v", first.Result.Missing, first.Result.Problems)
	}
	for range 3 {
		if again := resolve(t, src, c, "a"); again.Result != first.Result {
			t.Fatal("an unchanged cluster was resolved again")
		}
	}
	wantRuns(t, src, 1, 0)

	// Each kind of input, changed, is a new key: the next caller resolves once.
	changes := []struct {
		what string
		obj  client.Object
	}{
		{"group", &fcv1.NodesGroup{}}, {"machine", &fcv1.Machine{}}, {"network", &fcv1.Network{}}, {"cluster", &fcv1.Cluster{}},
	}
	names := map[string]string{"group": "g002", "machine": "a-rack1", "network": "a-net", "cluster": "a"}
	for i, ch := range changes {
		if err := c.Get(ctx, client.ObjectKey{Namespace: "ns", Name: names[ch.what]}, ch.obj); err != nil {
			t.Fatal(err)
		}
		respec(ch.obj)
		if err := c.Update(ctx, ch.obj); err != nil {
			t.Fatal(err)
		}
		resolve(t, src, c, "a")
		resolve(t, src, c, "a")
		wantRuns(t, src, int64(i+2), 0)
	}
}

func TestMachineThatAppearsIsANewKey(t *testing.T) {
	ctx := context.Background()
	site := generate(t, sitegen.Shape{Nodes: 20, Groups: 2, Machines: 2, Cluster: "a"})
	late := site.Machines[1]
	site.Machines = site.Machines[:1]
	c := world(t, site)
	src := New(c)
	if rs := resolve(t, src, c, "a"); rs.Result.Complete() {
		t.Fatal("a cluster whose Machine is missing resolved complete")
	}
	if err := c.Create(ctx, late); err != nil {
		t.Fatal(err)
	}
	if rs := resolve(t, src, c, "a"); !rs.Result.Complete() {
		t.Fatalf("the Machine was created and the resolution did not follow: %v", rs.Result.Missing)
	}
	wantRuns(t, src, 2, 0)
}

// TestConcurrentCallersShareOneResolution: reconcilers asking at the same time for the same
// input wait for one resolution instead of each running their own.
func TestConcurrentCallersShareOneResolution(t *testing.T) {
	c := world(t, generate(t, sitegen.Shape{Nodes: 1000, Groups: 10, Machines: 8, Cluster: "a"}))
	src := New(c)
	cl := cluster(t, c, "a")
	var wg sync.WaitGroup
	got := make([]*Resolution, 16)
	for i := range got {
		wg.Go(func() {
			rs, err := src.Resolve(context.Background(), cl.DeepCopy())
			if err != nil {
				t.Error(err)
			}
			got[i] = rs
		})
	}
	wg.Wait()
	for _, rs := range got[1:] {
		if rs.Result != got[0].Result {
			t.Fatal("two concurrent callers got different resolutions of one input")
		}
	}
	wantRuns(t, src, 1, 0)
}

func TestSiteIsCheckedOncePerChangeAndForgotten(t *testing.T) {
	ctx := context.Background()
	a := generate(t, sitegen.Shape{Nodes: 20, Groups: 2, Machines: 1, Cluster: "a"})
	b := generate(t, sitegen.Shape{Nodes: 20, Groups: 2, Machines: 1, Cluster: "b"})
	a.Cluster.Spec.InstallServer.Site, b.Cluster.Spec.InstallServer.Site = "dc1", "dc1"
	// b's groups are named apart from a's (they share a namespace); its nodes keep a's
	// names, a conflict on the site's DHCP host names.
	for _, g := range b.Groups {
		g.Name = "b-" + g.Name
	}
	c := world(t, a, b)
	src := New(c)
	site := func(name string) []model.Problem {
		cl := cluster(t, c, name)
		rs := resolve(t, src, c, name)
		ps, err := src.Site(ctx, cl, rs)
		if err != nil {
			t.Fatal(err)
		}
		return ps
	}
	pa := site("a")
	if len(pa) == 0 {
		t.Fatal("two clusters of one site with the same node names: no problem found")
	}
	pb := site("b")
	if fmt.Sprint(pa) != fmt.Sprint(pb) {
		t.Fatal("the two clusters of the site see different site problems")
	}
	wantRuns(t, src, 2, 1)

	// A change to b is a new site key, for a too.
	g := &fcv1.NodesGroup{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "ns", Name: "b-g001"}, g); err != nil {
		t.Fatal(err)
	}
	respec(g)
	if err := c.Update(ctx, g); err != nil {
		t.Fatal(err)
	}
	site("a")
	site("b")
	wantRuns(t, src, 3, 2)

	if err := c.Delete(ctx, cluster(t, c, "b")); err != nil {
		t.Fatal(err)
	}
	src.Forget("ns", "b")
	if src.Held() != 1 {
		t.Fatalf("after b went, the Source holds %d resolutions, want a's only", src.Held())
	}
	if ps := site("a"); len(ps) != 0 {
		t.Fatalf("alone in its site, a still has site problems: %v", ps)
	}
}

// respec changes an object's spec in a way the model does not mind, and moves its
// generation as the API server does (the fake client leaves generations alone).
func respec(o client.Object) {
	switch o := o.(type) {
	case *fcv1.NodesGroup:
		o.Spec.Rollout.MaxUnavailable++
	case *fcv1.Machine:
		o.Spec.Shelves[0].Switches[0].Ports++
	case *fcv1.Network:
		o.Spec.Networks[0].Router = "198.18.0.1"
	case *fcv1.Cluster:
		o.Spec.Domain++
	}
	o.SetGeneration(o.GetGeneration() + 1)
}

// TestAStatusWriteIsNotAChange: the reconcilers write the status of the objects a model is
// made of; that moves their resourceVersion but not their model, and resolves nothing again.
func TestAStatusWriteIsNotAChange(t *testing.T) {
	ctx := context.Background()
	c := world(t, generate(t, sitegen.Shape{Nodes: 20, Groups: 2, Machines: 1, Cluster: "a"}))
	src := New(c)
	first := resolve(t, src, c, "a")
	var g fcv1.NodesGroup
	if err := c.Get(ctx, client.ObjectKey{Namespace: "ns", Name: "g001"}, &g); err != nil {
		t.Fatal(err)
	}
	rv := g.ResourceVersion
	g.Status.Total = 10
	if err := c.Status().Update(ctx, &g); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "ns", Name: "g001"}, &g); err != nil || g.ResourceVersion == rv {
		t.Fatalf("the status write did not move the resourceVersion (%v)", err)
	}
	again := resolve(t, src, c, "a")
	if again.Result != first.Result {
		t.Fatal("a status write resolved the model again")
	}
	if again.Input.Groups[1].Status.Total != 10 {
		t.Fatal("the input handed out is not the one just read: its status is stale")
	}
	wantRuns(t, src, 1, 0)
}
