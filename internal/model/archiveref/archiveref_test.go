package archiveref

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/internal/model"
)

func archive(name string, t v1alpha1.ArchiveType, arch v1alpha1.Arch, base string) *v1alpha1.FlashArchive {
	fa := &v1alpha1.FlashArchive{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1alpha1.FlashArchiveSpec{Type: t, Arch: arch}}
	if base != "" {
		fa.Spec.BaseRef = &v1alpha1.LocalObjectReference{Name: base}
	}
	return fa
}

func lookupIn(fas ...*v1alpha1.FlashArchive) Lookup {
	return func(name string) (*v1alpha1.FlashArchive, error) {
		for _, fa := range fas {
			if fa.Name == name {
				return fa, nil
			}
		}
		return nil, nil
	}
}

func TestCheckBaseRefusesAMissingOrDeployableBase(t *testing.T) {
	for _, tc := range []struct {
		name string
		base *v1alpha1.FlashArchive
		want model.Reason
	}{
		{"missing", nil, ReasonBaseNotFound},
		{"deployable", archive("b", v1alpha1.ArchiveDeployable, "", "g"), ReasonInvalidSpec},
		{"generic", archive("b", v1alpha1.ArchiveGeneric, "amd64", ""), ""},
		{"configured", archive("b", v1alpha1.ArchiveConfigured, "", "g"), ""},
	} {
		p := CheckBase("b", tc.base)
		if (p == nil) != (tc.want == "") || p != nil && p.Reason != tc.want {
			t.Errorf("%s: %+v, want reason %q", tc.name, p, tc.want)
		}
	}
}

func TestArchIsTheGenericArchiveAtTheBottomOfTheChain(t *testing.T) {
	gen := archive("gen", v1alpha1.ArchiveGeneric, "arm64", "")
	conf := archive("conf", v1alpha1.ArchiveConfigured, "amd64", "gen") // its own arch is inherited, not its own
	conf2 := archive("conf2", v1alpha1.ArchiveConfigured, "", "conf")
	orphan := archive("orphan", v1alpha1.ArchiveConfigured, "", "gone")
	loopA := archive("a", v1alpha1.ArchiveConfigured, "", "b")
	loopB := archive("b", v1alpha1.ArchiveConfigured, "", "a")
	lookup := lookupIn(gen, conf, conf2, orphan, loopA, loopB)
	for _, tc := range []struct {
		fa   *v1alpha1.FlashArchive
		want v1alpha1.Arch
	}{{gen, "arm64"}, {conf, "arm64"}, {conf2, "arm64"}, {orphan, ""}, {loopA, ""}} {
		if got, err := Arch(tc.fa, lookup); err != nil || got != tc.want {
			t.Errorf("Arch(%s) = %q, %v; want %q", tc.fa.Name, got, err, tc.want)
		}
	}
}

func TestCheckArchNamesTheArchiveTheGroupAndBothArches(t *testing.T) {
	g := &v1alpha1.NodesGroup{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: v1alpha1.NodesGroupSpec{Arch: "amd64"}}
	base := archive("conf", v1alpha1.ArchiveConfigured, "", "gen")
	if p := CheckArch(base, "amd64", g); p != nil {
		t.Errorf("same arch: %+v", p)
	}
	if p := CheckArch(base, "", g); p != nil {
		t.Errorf("unknown arch: %+v", p)
	}
	p := CheckArch(base, "arm64", g)
	want := "FlashArchive conf holds a root file system for arm64, but NodesGroup web runs amd64 nodes: point the group's spec.archiveRef at an amd64 archive, or change its spec.arch"
	if p == nil || p.Reason != ReasonArchMismatch || p.Message != want {
		t.Fatalf("%+v, want ArchMismatch: %s", p, want)
	}
}
