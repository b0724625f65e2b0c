package model

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	utiljson "k8s.io/apimachinery/pkg/util/json"

	"github.com/flarecast/flarecast/api/v1alpha1"
	crd "github.com/flarecast/flarecast/config/crd"
	"github.com/flarecast/flarecast/internal/crdvalidate"
)

// TestDocsQuoteTheAPIServersMessages checks that every answer of the API server quoted in
// docs/model.md (`Machine.flarecast.io "site" is invalid: …`) is one the CRDs' rules give, word
// for word, on a variation of the test site. The CRDs are checked offline, by the validator
// that agrees with the real API server (internal/crdvalidate's TestAdmitAgreesWithTheAPIServer
// compares their words too).
func TestDocsQuoteTheAPIServersMessages(t *testing.T) {
	v, err := crdvalidate.Load(crd.Bases, "bases")
	if err != nil {
		t.Fatal(err)
	}
	str := func(s string) *string { return &s }
	scs := map[string]func(in *Input){
		"diskless-me": func(in *Input) { group(*in, "workers").Spec.Role = v1alpha1.RoleMasterEligible },
		"dataless-me": func(in *Input) { group(*in, "dataless").Spec.Role = v1alpha1.RoleMasterEligible },
		"id-in-group": func(in *Input) { group(*in, "masters").Spec.Nodes[1].ID = 1 },
		"drawer-in-group": func(in *Input) {
			group(*in, "masters").Spec.Nodes[1].Drawer = "shelf0/d1"
		},
		"slices-sum":  func(in *Input) { drawerOf(*in, "d1").Disks[0].Slices[2].Size = str("70Gi") },
		"slice-large": func(in *Input) { drawerOf(*in, "d1").Disks[0].Slices[0].Size = str("200Gi") },
		"rest-twice":  func(in *Input) { drawerOf(*in, "d1").Disks[0].Slices[1].Size = nil },
		"index":       func(in *Input) { drawerOf(*in, "d1").Disks[0].Slices[2].Index = 1 },
		"switch":      func(in *Input) { drawerOf(*in, "d2").Boards[0].NICs[0].Link.Switch = "sw7" },
		"port-beyond": func(in *Input) { drawerOf(*in, "d2").Boards[0].NICs[0].Link.Port = 25 },
		"mac-board": func(in *Input) {
			b := &drawerOf(*in, "d1").Boards[0]
			b.NICs = append(b.NICs, v1alpha1.NIC{Name: "eth1", MAC: b.NICs[0].MAC})
		},
		"mac-octets": func(in *Input) { drawerOf(*in, "d3").Boards[0].NICs[0].MAC = "02:00:00:00:00:03:01" },
		"mac-case":   func(in *Input) { drawerOf(*in, "d3").Boards[0].NICs[0].MAC = "02:00:00:00:00:0A" },
		"cidr":       func(in *Input) { in.Network.Spec.Networks[0].CIDR = "198.18.0.1/16" },
		"router-outside": func(in *Input) {
			in.Network.Spec.Routers[0].Address = "198.19.0.1"
		},
		"explicit-outside": func(in *Input) {
			in.Network.Spec.Addresses = []v1alpha1.Address{{Node: "w4", Network: "internal", IP: "198.19.0.7"}}
		},
		"explicit-twice": func(in *Input) {
			in.Network.Spec.Addresses = []v1alpha1.Address{{Node: "m1", Network: "internal", IP: "198.18.9.9"}, {Node: "m2", Network: "internal", IP: "198.18.9.9"}}
		},
		"explicit-network": func(in *Input) {
			in.Network.Spec.Addresses = []v1alpha1.Address{{Node: "w4", Network: "storage", IP: "198.18.9.9"}}
		},
		"router-unknown": func(in *Input) { in.Network.Spec.Networks[0].Router = "core" },
	}
	produced := map[string]bool{}
	for name, f := range scs {
		in := site()
		f(&in)
		objs := []runtime.Object{in.Network, in.Cluster}
		for _, m := range in.Machines {
			objs = append(objs, m)
		}
		for i := range in.Groups {
			objs = append(objs, &in.Groups[i])
		}
		refused := 0
		for _, o := range objs {
			for _, line := range serverAnswers(t, v, o) {
				produced[line] = true
				refused++
			}
		}
		if refused == 0 {
			t.Errorf("scenario %s breaks no rule of the CRDs", name)
		}
	}
	f, err := os.Open("../../docs/model.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	quoted := 0
	lines := bufio.NewScanner(f)
	lines.Buffer(nil, 1<<20)
	for lines.Scan() {
		line := lines.Text()
		for _, kind := range []string{KindCluster, KindNodesGroup, KindMachine, KindNetwork} {
			if !strings.HasPrefix(line, kind+"."+v1alpha1.GroupVersion.Group+" ") {
				continue
			}
			quoted++
			if !produced[line] {
				t.Errorf("docs/model.md quotes an answer the API server does not give:\n%s", line)
			}
		}
	}
	if quoted < 15 {
		t.Errorf("only %d answers of the API server quoted in docs/model.md", quoted)
	}
}

// serverAnswers admits a typed object offline and renders each refusal as the API server
// words it for a request with that one error: `Kind.group "name" is invalid: field: detail`.
func serverAnswers(t *testing.T, v *crdvalidate.Validator, o runtime.Object) []string {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
	if err != nil {
		t.Fatal(err)
	}
	kind := fmt.Sprintf("%T", o)[len("*v1alpha1."):]
	m["apiVersion"], m["kind"] = v1alpha1.GroupVersion.String(), kind
	// Decode as the server does (whole numbers as int64), as Admit requires.
	data, err := utiljson.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	obj := map[string]any{}
	if err := utiljson.Unmarshal(data, &obj); err != nil {
		t.Fatal(err)
	}
	delete(obj, "status")
	name := obj["metadata"].(map[string]any)["name"]
	var out []string
	for _, e := range v.Admit(context.Background(), obj) {
		out = append(out, fmt.Sprintf("%s.%s %q is invalid: %s", kind, v1alpha1.GroupVersion.Group, name, e.Error()))
	}
	return out
}
