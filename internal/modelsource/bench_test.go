package modelsource

import (
	"context"
	"fmt"
	"testing"

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
// (the fake client, slower than the manager's informer cache, so "shared" is an upper bound).
func BenchmarkGroupReconcilesAfterOneChange(b *testing.B) {
	for _, groups := range []int{10, 20, 40} {
		c := world(b, generate(b, sitegen.Shape{Nodes: groups * 100, Groups: groups, Machines: groups, Cluster: "a"}))
		cl := cluster(b, c, "a")
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
				touch(b, c, "g001") // the change: a new key
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
		c := world(b, generate(b, s))
		cl := cluster(b, c, "a")
		src := New(c)
		ctx := context.Background()
		name := func(what string) string { return fmt.Sprintf("%s/nodes=%d", what, s.Nodes) }
		b.Run(name("cached"), func(b *testing.B) {
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

func touch(b *testing.B, c client.Client, group string) {
	b.Helper()
	var g fcv1.NodesGroup
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: group}, &g); err != nil {
		b.Fatal(err)
	}
	g.Labels = map[string]string{"touched": g.ResourceVersion}
	if err := c.Update(context.Background(), &g); err != nil {
		b.Fatal(err)
	}
}
