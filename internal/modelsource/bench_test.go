package modelsource

import (
	"context"
	"fmt"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/internal/model"
	"github.com/flarecast/flarecast/internal/sitegen"
)

// BenchmarkGroupReconcilesAfterOneChange is what the reconciles of every NodesGroup of a
// cluster cost after one of its inputs changed, for clusters of 100 nodes a group:
// "per-caller" resolves for each group, as every reconciler did before the Source (work
// grows with groups × nodes); "shared" is the Source, which resolves once and serves the
// others from the key (work grows with nodes). Both load the input through the same Reader
// (memReader, which hands out objects without a copy as the manager's cache does).
func BenchmarkGroupReconcilesAfterOneChange(b *testing.B) {
	for _, groups := range []int{10, 20, 40} {
		c := newMemReader(generate(b, sitegen.Shape{Nodes: groups * 100, Groups: groups, Machines: groups, Cluster: "a"}))
		cl := c.cluster
		ctx := context.Background()
		b.Run(fmt.Sprintf("per-caller/groups=%d", groups), func(b *testing.B) {
			for b.Loop() {
				for range groups {
					in, _, err := Load(ctx, c, cl)
					if err != nil {
						b.Fatal(err)
					}
					model.Resolve(in)
				}
			}
		})
		b.Run(fmt.Sprintf("shared/groups=%d", groups), func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				c.groups[1].Generation++ // the change: a new key
				b.StartTimer()
				src := New(c)
				for range groups {
					if _, err := src.Resolve(ctx, cl); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkServeUnchanged is what a reconcile pays to learn that nothing changed: load the
// input and build its key, against the same cluster resolved anew.
func BenchmarkServeUnchanged(b *testing.B) {
	for _, s := range []sitegen.Shape{
		{Nodes: 1000, Groups: 10, Machines: 8, Cluster: "a"},
		{Nodes: 10000, Groups: 100, Machines: 80, Cluster: "a"},
	} {
		c := newMemReader(generate(b, s))
		cl := c.cluster
		src := New(c)
		ctx := context.Background()
		name := func(what string) string { return fmt.Sprintf("%s/nodes=%d", what, s.Nodes) }
		b.Run(name("cached"), func(b *testing.B) {
			if _, err := src.Resolve(ctx, cl); err != nil { // resolved once, before timing
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := src.Resolve(ctx, cl); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name("resolved"), func(b *testing.B) {
			for b.Loop() {
				in, _, err := Load(ctx, c, cl)
				if err != nil {
					b.Fatal(err)
				}
				model.Resolve(in)
			}
		})
	}
}

// memReader is a client.Reader over one generated cluster held in memory. Like the
// manager's informer cache read with UnsafeDisableDeepCopy, it hands out the objects it holds
// without a copy, so the benchmarks measure the Source and the model, not a fake API server.
type memReader struct {
	cluster  *fcv1.Cluster
	groups   []fcv1.NodesGroup
	machines map[string]*fcv1.Machine
	network  *fcv1.Network
}

func newMemReader(site *sitegen.Site) *memReader {
	r := &memReader{cluster: site.Cluster, network: site.Network, machines: map[string]*fcv1.Machine{}}
	r.cluster.UID, r.cluster.Generation = "c", 1
	for _, g := range site.Groups {
		g.UID, g.Generation = types.UID(g.Name), 1
		r.groups = append(r.groups, *g)
	}
	for _, m := range site.Machines {
		m.UID, m.Generation = types.UID(m.Name), 1
		r.machines[m.Name] = m
	}
	return r
}

func (r *memReader) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	switch o := obj.(type) {
	case *fcv1.Machine:
		m, ok := r.machines[key.Name]
		if !ok {
			return apierrors.NewNotFound(fcv1.GroupVersion.WithResource("machines").GroupResource(), key.Name)
		}
		*o = *m
	case *fcv1.Network:
		*o = *r.network
	default:
		return fmt.Errorf("memReader: no %T", obj)
	}
	return nil
}

func (r *memReader) List(_ context.Context, list client.ObjectList, _ ...client.ListOption) error {
	switch l := list.(type) {
	case *fcv1.NodesGroupList:
		l.Items = append([]fcv1.NodesGroup(nil), r.groups...)
	case *fcv1.ClusterList:
		l.Items = []fcv1.Cluster{*r.cluster}
	default:
		return fmt.Errorf("memReader: no %T", list)
	}
	return nil
}
