package installserver_test

import (
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/internal/installserver"
	"github.com/flarecast/flarecast/internal/model"
	"github.com/flarecast/flarecast/internal/model/manifest"
)

// sampleSite is the edge site of config/samples (two racks, eight nodes, one Cluster of site
// edge-dc), as typed objects in namespace ns.
type sampleSite struct {
	Cluster  *fcv1.Cluster
	Network  *fcv1.Network
	Machines []*fcv1.Machine
	Groups   []*fcv1.NodesGroup
}

func loadSamples(t testing.TB, ns string) *sampleSite {
	t.Helper()
	dir := filepath.Join("..", "..", "config", "samples")
	var paths []string
	for _, f := range []string{"machine.yaml", "network.yaml", "cluster.yaml", "nodesgroups.yaml"} {
		paths = append(paths, filepath.Join(dir, f))
	}
	objs, errs := manifest.Read(paths, nil)
	if len(errs) > 0 {
		t.Fatalf("read samples: %v", errs)
	}
	s := &sampleSite{}
	for _, o := range objs {
		var typed client.Object
		switch o.GVK().Kind {
		case "Cluster":
			s.Cluster = &fcv1.Cluster{}
			typed = s.Cluster
		case "Network":
			s.Network = &fcv1.Network{}
			typed = s.Network
		case "Machine":
			m := &fcv1.Machine{}
			s.Machines = append(s.Machines, m)
			typed = m
		case "NodesGroup":
			g := &fcv1.NodesGroup{}
			s.Groups = append(s.Groups, g)
			typed = g
		default:
			continue
		}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, typed); err != nil {
			t.Fatalf("%s: %v", o.File, err)
		}
		typed.SetNamespace(ns)
	}
	return s
}

// objects are the site's objects, for an API server.
func (s *sampleSite) objects() []client.Object {
	out := []client.Object{s.Network}
	for _, m := range s.Machines {
		out = append(out, m)
	}
	out = append(out, s.Cluster)
	for _, g := range s.Groups {
		out = append(out, g)
	}
	return out
}

// resolve is the Cluster's model, as the install server gets it.
func (s *sampleSite) resolve() installserver.Member {
	in := model.Input{Cluster: s.Cluster, Network: s.Network, Machines: s.Machines}
	for _, g := range s.Groups {
		in.Groups = append(in.Groups, *g)
	}
	return installserver.Member{Cluster: s.Cluster, Result: model.Resolve(in), Groups: in.Groups}
}
