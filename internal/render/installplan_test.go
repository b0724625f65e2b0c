package render

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/internal/installplan"
)

func TestSampleInstallPlansRenderAsTheGoldenFiles(t *testing.T) {
	in, res := sampleModel(t)
	plans := InstallPlans(in.Cluster, in.Groups, res)
	if len(plans) != len(res.Nodes) {
		t.Fatalf("%d plans for %d nodes", len(plans), len(res.Nodes))
	}
	files, err := PlanFiles(plans)
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range files {
		if want := "/etc/flarecast/plans/" + plans[i].Node + ".json"; f.Path != want || f.Mode != 0o644 {
			t.Errorf("plan of %s at %s mode %o, want %s 0644", plans[i].Node, f.Path, f.Mode, want)
		}
		golden(t, "plans/"+plans[i].Node+".json.golden", f.Data)
		var back installplan.Plan
		if err := json.Unmarshal(f.Data, &back); err != nil || back.Version != installplan.Version {
			t.Errorf("plan of %s does not read back: %v %q", plans[i].Node, err, back.Version)
		}
	}
}

func TestInstallPlanCarriesWhatTheAgentNeedsFromTheModel(t *testing.T) {
	in, res := sampleModel(t)
	byNode := map[string]installplan.Plan{}
	for _, p := range InstallPlans(in.Cluster, in.Groups, res) {
		byNode[p.Node] = p
	}
	m1, m2, n5 := byNode["m1"], byNode["m2"], byNode["n5"]
	if len(m1.Disks) != 1 || m1.Disks[0].Serial != "S3EVNX0K812345" || m1.Disks[0].Size != 480<<30 || len(m1.Disks[0].Slices) != 5 {
		t.Errorf("m1's disk: %+v", m1.Disks)
	}
	if len(m2.Disks) != 1 || m2.Disks[0].BusPath != "pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0" || m2.Disks[0].Serial != "" {
		t.Errorf("m2's disk: %+v", m2.Disks)
	}
	if !m1.DoubleReboot || len(m1.Scripts) != 1 || m1.Scripts[0] != (installplan.Script{Name: "exports", Stage: "BeforeServices", Order: 10}) {
		t.Errorf("m1's scripts %+v, double reboot %v", m1.Scripts, m1.DoubleReboot)
	}
	if byNode["dl3"].DoubleReboot || len(byNode["dl3"].Scripts) != 0 {
		t.Errorf("dl3 has no configuration, yet %+v", byNode["dl3"])
	}
	var prov []string
	for _, nic := range m1.NICs {
		if nic.Provisioning {
			prov = append(prov, nic.Name+" "+nic.Address)
		}
		if nic.Network == "external" && (nic.Address != "198.19.100.1/16" || nic.Gateway != "198.19.0.1" || nic.VLAN != 20) {
			t.Errorf("m1's external NIC: %+v", nic)
		}
	}
	if strings.Join(prov, ",") != "eth0 198.18.7.1/16" {
		t.Errorf("m1's provisioning NICs: %v (NICs %+v)", prov, m1.NICs)
	}
	if n5.NodeType != "Diskless" || n5.Root != "NFS" || n5.Writes != "Tmpfs" || len(n5.Disks) != 0 || n5.Firmware != "UEFI" {
		t.Errorf("n5: %+v", n5)
	}
	if want := []installplan.Mount{{Name: "shared", MountPoint: "/shared"}}; !reflect.DeepEqual(byNode["dl3"].Mounts, want) {
		t.Errorf("dl3's mounts %+v, want %+v", byNode["dl3"].Mounts, want)
	}
	if m1.Root != "" || m1.Writes != "" || len(m1.Mounts) != 0 {
		t.Errorf("m1 is Diskfull, yet root %q writes %q mounts %+v", m1.Root, m1.Writes, m1.Mounts)
	}
}

func TestDisklessPlansFollowTheGroupsChoice(t *testing.T) {
	cases := []struct {
		name         string
		spec         *fcv1.DisklessSpec
		root, writes string
		shared       []fcv1.SharedData
		wantMounts   []installplan.Mount
	}{
		{"Defaults", nil, "NFS", "Tmpfs", nil, nil},
		{"RAMRoot", &fcv1.DisklessSpec{Root: fcv1.DisklessRootRAM, Writes: fcv1.DisklessWritesTmpfs}, "RAM", "Tmpfs", nil, nil},
		{"PersistentWrites", &fcv1.DisklessSpec{Root: fcv1.DisklessRootNFS, Writes: fcv1.DisklessWritesPersistent}, "NFS", "Persistent", nil, nil},
		{"SharedDataOfBothKinds", nil, "NFS", "Tmpfs",
			[]fcv1.SharedData{{Name: "scratch", MountPoint: "/scratch"}, {Name: "home", MountPoint: "/home", Access: fcv1.DataReadOnly, NFS: &fcv1.NFSSource{Server: "198.18.9.9", Path: "/export/home"}}},
			[]installplan.Mount{{Name: "scratch", MountPoint: "/scratch"}, {Name: "home", MountPoint: "/home", Server: "198.18.9.9", Path: "/export/home", ReadOnly: true}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in, res := sampleModel(t)
			for i := range in.Groups {
				if in.Groups[i].Name == "diskless" {
					in.Groups[i].Spec.Diskless, in.Groups[i].Spec.SharedData = tc.spec, tc.shared
				}
			}
			for _, p := range InstallPlans(in.Cluster, in.Groups, res) {
				if p.Group != "diskless" {
					continue
				}
				if p.Root != tc.root || p.Writes != tc.writes || !reflect.DeepEqual(p.Mounts, tc.wantMounts) {
					t.Errorf("%s: root %q writes %q mounts %+v, want %q %q %+v", p.Node, p.Root, p.Writes, p.Mounts, tc.root, tc.writes, tc.wantMounts)
				}
			}
		})
	}
}
