package model

import (
	"fmt"
	"testing"

	"github.com/flarecast/flarecast/internal/sitegen"
)

// generated is a cluster of the shape as a model Input.
func generated(b *testing.B, s sitegen.Shape) Input {
	b.Helper()
	site, err := sitegen.Generate(s)
	if err != nil {
		b.Fatal(err)
	}
	in := Input{Cluster: site.Cluster, Machines: site.Machines, Network: site.Network}
	for _, g := range site.Groups {
		in.Groups = append(in.Groups, *g)
	}
	if res := Resolve(in); !res.Complete() || !res.Valid() {
		b.Fatalf("%+v: generated model is not complete and valid: %v %v", s, res.Missing, res.Problems)
	}
	return in
}

// BenchmarkResolveGrowth says how one resolution grows along each dimension of a site,
// the other two held: nodes (100 a group, 125 a Machine), groups (10,000 nodes over 80
// Machines) and Machines (10,000 nodes in 100 groups).
func BenchmarkResolveGrowth(b *testing.B) {
	var shapes []sitegen.Shape
	for _, n := range []int{1000, 2500, 5000, 10000} {
		shapes = append(shapes, sitegen.Shape{Nodes: n, Groups: n / 100, Machines: n / 125})
	}
	for _, g := range []int{10, 1000} {
		shapes = append(shapes, sitegen.Shape{Nodes: 10000, Groups: g, Machines: 80})
	}
	for _, m := range []int{160, 320} {
		shapes = append(shapes, sitegen.Shape{Nodes: 10000, Groups: 100, Machines: m})
	}
	for _, s := range shapes {
		b.Run(fmt.Sprintf("nodes=%d/groups=%d/machines=%d", s.Nodes, s.Groups, s.Machines), func(b *testing.B) {
			in := generated(b, s)
			b.ReportAllocs()
			for b.Loop() {
				Resolve(in)
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/float64(s.Nodes), "µs/node")
		})
	}
}
