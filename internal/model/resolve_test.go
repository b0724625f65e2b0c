package model

import (
	"reflect"
	"testing"
)

func TestSiteIsCompleteAndValid(t *testing.T) {
	res := Resolve(site())
	clean(t, res)
	if !res.Complete() || !res.Valid() || !res.Steps.Deployable {
		t.Fatalf("complete %v valid %v deployable %v", res.Complete(), res.Valid(), res.Steps.Deployable)
	}
	want := Counts{Total: 4, Placed: 4, Addressed: 4, MasterEligible: 2}
	if res.Counts != want {
		t.Errorf("counts %+v, want %+v", res.Counts, want)
	}
	var order []string
	for _, n := range res.Nodes {
		order = append(order, n.Group+"/"+n.Name)
	}
	if want := []string{"dataless/n3", "masters/m1", "masters/m2", "workers/w4"}; !reflect.DeepEqual(order, want) {
		t.Errorf("node order %v, want %v", order, want)
	}
	for g, ok := range res.Steps.GenericArchive {
		if !ok {
			t.Errorf("group %s: generic archive not possible", g)
		}
	}
	if res.ProvisioningNetwork != "internal" {
		t.Errorf("provisioning network %q", res.ProvisioningNetwork)
	}
}

func TestResolvedNodeCarriesDrawerNICsDisksAndAddress(t *testing.T) {
	res := Resolve(site())
	m1 := res.Node("m1")
	if m1 == nil {
		t.Fatal("no node m1")
	}
	if m1.Shelf != "shelf0" || m1.Drawer != "d1" || m1.Board != "b0" || m1.Firmware != "UEFI" || m1.Arch != "amd64" {
		t.Errorf("placement %+v", m1)
	}
	wantNIC := NIC{Name: "eth0", MAC: "02:00:00:00:00:01", Switch: "shelf0/sw0", Port: 1, Network: "internal", IP: "198.18.3.1", Networks: []string{"internal"}}
	if len(m1.NICs) != 1 || !reflect.DeepEqual(m1.NICs[0], wantNIC) {
		t.Errorf("NICs %+v, want %+v", m1.NICs, wantNIC)
	}
	if m1.Addresses["internal"] != "198.18.3.1" {
		t.Errorf("addresses %v", m1.Addresses)
	}
	if len(m1.Disks) != 1 || m1.Disks[0].Size != 100<<30 || len(m1.Disks[0].Slices) != 3 {
		t.Fatalf("disks %+v", m1.Disks)
	}
	root, rest := m1.Disks[0].Slices[0], m1.Disks[0].Slices[2]
	if root.Size != 40<<30 || root.MountPoint != "/" || root.FSType != "ext4" || rest.Size != 0 || rest.MountPoint != "/var" {
		t.Errorf("slices %+v", m1.Disks[0].Slices)
	}
	if w4 := res.Node("w4"); len(w4.Disks) != 0 || w4.Addresses["internal"] != "198.18.3.4" {
		t.Errorf("w4 %+v", w4)
	}
}

func TestResolveDoesNotChangeItsInput(t *testing.T) {
	in := site()
	before := site()
	Resolve(in)
	if !reflect.DeepEqual(in, before) {
		t.Fatal("Resolve changed its input")
	}
}

func TestResolveIsDeterministic(t *testing.T) {
	in := site()
	group(in, "masters").Spec.Nodes[0].Drawer = "shelf0/d9"
	group(in, "workers").Spec.Services = []string{"rbs", "ha"}
	a, b := Resolve(in), Resolve(in)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two resolutions of one input differ")
	}
	// groups given in another order resolve alike
	in.Groups[0], in.Groups[2] = in.Groups[2], in.Groups[0]
	if c := Resolve(in); !reflect.DeepEqual(a.Problems, c.Problems) || !reflect.DeepEqual(a.Nodes, c.Nodes) {
		t.Fatal("group order changes the result")
	}
}
