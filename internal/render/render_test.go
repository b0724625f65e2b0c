package render

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/internal/model"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// sampleModel reads the sample site of config/samples and resolves it.
func sampleModel(t *testing.T) (model.Input, *model.Result) {
	t.Helper()
	var in model.Input
	for _, f := range []string{"machine.yaml", "network.yaml", "cluster.yaml", "nodesgroups.yaml"} {
		data, err := os.ReadFile(filepath.Join("..", "..", "config", "samples", f))
		if err != nil {
			t.Fatal(err)
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			var obj map[string]any
			if err := dec.Decode(&obj); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			var into any
			switch obj["kind"] {
			case "Machine":
				m := &fcv1.Machine{}
				in.Machines = append(in.Machines, m)
				into = m
			case "Network":
				in.Network = &fcv1.Network{}
				into = in.Network
			case "Cluster":
				in.Cluster = &fcv1.Cluster{}
				into = in.Cluster
			case "NodesGroup":
				in.Groups = append(in.Groups, fcv1.NodesGroup{})
				into = &in.Groups[len(in.Groups)-1]
			default:
				continue
			}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj, into); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
		}
	}
	res := model.Resolve(in)
	if !res.Complete() || !res.Valid() {
		t.Fatalf("the sample site is not complete and valid: missing %v, problems %v", res.Missing, res.Problems)
	}
	return in, res
}

func sampleTemplates(cl *fcv1.Cluster) []Template {
	var out []Template
	for _, s := range cl.Spec.FoundationServices {
		for _, f := range s.Templates {
			out = append(out, Template{Service: s.Name, Path: f.Path, Mode: uint32(f.Mode), Text: *f.Source.Inline})
		}
	}
	return out
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/render -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestSampleFoundationServicesRenderAsTheGoldenFiles(t *testing.T) {
	in, res := sampleModel(t)
	files, err := Files(sampleTemplates(in.Cluster), DataFrom(in.Cluster, res))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"/etc/chrony/conf.d/cluster.conf": "edge-ntp-cluster.conf.golden",
		"/etc/flarecast/cmm/nodes.conf":   "edge-cmm-nodes.conf.golden",
	}
	if len(files) != len(want) {
		t.Fatalf("rendered %d files, want %d", len(files), len(want))
	}
	for _, f := range files {
		g, ok := want[f.Path]
		if !ok {
			t.Fatalf("unexpected file %s", f.Path)
		}
		if f.Mode != 0o644 {
			t.Errorf("%s: mode %o, want 644", f.Path, f.Mode)
		}
		golden(t, g, f.Data)
	}
}

func TestNodeTableListsEveryNodeByIDWithAddressesInNetworkOrder(t *testing.T) {
	_, res := sampleModel(t)
	rows := NodeTable(res)
	if len(rows) != 8 {
		t.Fatalf("%d rows, want 8", len(rows))
	}
	for i, r := range rows {
		if r.ID != i+1 {
			t.Fatalf("row %d has id %d: not sorted by id", i, r.ID)
		}
	}
	// m1: internal derived (198.18.7.1), external fixed by the Network (198.19.100.1).
	if m1 := rows[0]; m1.Name != "m1" || m1.Group != "masters" || m1.Role != "MasterEligible" ||
		strings.Join(m1.Addresses, ",") != "198.18.7.1,198.19.100.1" {
		t.Fatalf("m1 row %+v", m1)
	}
}

func TestUnknownFieldInATemplateIsAnErrorNamingServiceAndPath(t *testing.T) {
	in, res := sampleModel(t)
	_, err := Files([]Template{{Service: "cmm", Path: "/etc/x.conf", Text: "{{ .Cluster.Nmae }}"}}, DataFrom(in.Cluster, res))
	if err == nil || !strings.Contains(err.Error(), "foundation service cmm") || !strings.Contains(err.Error(), "/etc/x.conf") {
		t.Fatalf("error %v, want one naming the service and the path", err)
	}
	_, err = Files([]Template{{Service: "ntp", Path: "/etc/y.conf", Text: "{{ range .Nodes }"}}, DataFrom(in.Cluster, res))
	if err == nil || !strings.Contains(err.Error(), "template /etc/y.conf") {
		t.Fatalf("parse error %v, want one naming the template", err)
	}
}

func TestSoftwareLoadNamesEachGroupsArchiveAndIsStable(t *testing.T) {
	in, _ := sampleModel(t)
	bases := map[string]digest.Digest{}
	for _, g := range in.Groups {
		bases[g.Name] = digest.FromString("base of " + g.Name)
	}
	d1, err := SoftwareLoad(in.Cluster, in.Groups, bases)
	if err != nil {
		t.Fatal(err)
	}
	if d1.Cluster != "edge" || d1.Domain != 7 || len(d1.Groups) != 3 || d1.Groups[0].Name != "dataless" ||
		d1.Group("masters").Archive != bases["masters"] || strings.Join(d1.Group("diskless").Nodes, ",") != "n5,n6,n7,n8" {
		t.Fatalf("descriptor %+v", d1)
	}
	reversed := []fcv1.NodesGroup{in.Groups[2], in.Groups[1], in.Groups[0]}
	d2, err := SoftwareLoad(in.Cluster, reversed, bases)
	if err != nil || d2.Digest() != d1.Digest() {
		t.Fatalf("the group order changed the descriptor digest: %s vs %s (%v)", d2.Digest(), d1.Digest(), err)
	}
	delete(bases, "diskless")
	if _, err := SoftwareLoad(in.Cluster, in.Groups, bases); err == nil || !strings.Contains(err.Error(), "nodes group diskless") {
		t.Fatalf("error %v, want one naming the group without an archive", err)
	}
}

// TestTwoServicesRenderingOnePathIsAnErrorNamingBoth: a group that runs two foundation
// services whose templates land on the same path would get an archive the build refuses
// ("file given twice"); the error says which services collide, so the Cluster can be fixed.
func TestTwoServicesRenderingOnePathIsAnErrorNamingBoth(t *testing.T) {
	in, res := sampleModel(t)
	_, err := Files([]Template{
		{Service: "cmm", Path: "/etc/hosts.d/site", Text: "a"},
		{Service: "ntp", Path: "/etc/hosts.d/site", Text: "b"},
	}, DataFrom(in.Cluster, res))
	if err == nil || !strings.Contains(err.Error(), "cmm") || !strings.Contains(err.Error(), "ntp") || !strings.Contains(err.Error(), "/etc/hosts.d/site") {
		t.Fatalf("err %v, want one naming both services and the path", err)
	}
}
