package check

import (
	"context"
	"testing"

	"github.com/flarecast/flarecast/internal/model"
	"github.com/flarecast/flarecast/internal/model/manifest"
)

// The FlashArchives of the manifests are checked against what derives from them and against
// the groups that run them, with the controller's reasons and messages (package archiveref).
func TestArchivesAreCheckedAgainstTheGroupsThatRunThem(t *testing.T) {
	objs, errs := manifest.Read([]string{"testdata/archives"}, nil)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	r := Check(context.Background(), objs, loadValidator(t))
	type finding struct {
		file, object, field string
		reason              model.Reason
		severity            Severity
		message             string
	}
	var got []finding
	for _, f := range r.Findings {
		if f.Reason == ReasonClusterNotChecked {
			continue // the groups' Cluster is not part of this testdata
		}
		got = append(got, finding{f.File, f.Kind + "/" + f.Name, f.Field, f.Reason, f.Severity, f.Message})
	}
	const mismatch = "FlashArchive arm-conf holds a root file system for arm64, but NodesGroup db runs amd64 nodes: point the group's spec.archiveRef at an amd64 archive, or change its spec.arch"
	const onDeployable = "FlashArchive edge-web is Deployable; derive from a Generic or Configured archive"
	want := []finding{
		{"testdata/archives/arch-mismatch.yaml", "FlashArchive/edge-db", "spec.baseRef", "ArchMismatch", SeverityError, mismatch},
		{"testdata/archives/arch-mismatch.yaml", "NodesGroup/db", "spec.archiveRef", "ArchMismatch", SeverityError, mismatch},
		{"testdata/archives/deployable-ref.yaml", "FlashArchive/on-deployable", "spec.baseRef", "InvalidSpec", SeverityError, onDeployable},
		{"testdata/archives/deployable-ref.yaml", "NodesGroup/cache", "spec.archiveRef", "InvalidSpec", SeverityError, onDeployable},
		{"testdata/archives/elsewhere.yaml", "NodesGroup/batch", "spec.archiveRef", ReasonArchiveNotChecked, SeverityMissing,
			"FlashArchive kept-elsewhere is not in the checked manifests, so its type, base and arch were not checked against this group: check it with its FlashArchive"},
	}
	if len(got) != len(want) {
		t.Fatalf("findings:\n%v\nwant:\n%v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("finding %d:\n%+v\nwant\n%+v", i, got[i], want[i])
		}
	}
	if r.Checked != 10 {
		t.Errorf("checked %d objects, want the 10 of testdata/archives", r.Checked)
	}
}

// A group whose archive chain suits it, read alone, is only missing what is not in the files.
func TestAGroupRunningAnArchiveOfItsArchPasses(t *testing.T) {
	objs, errs := manifest.Read([]string{"testdata/archives/chain.yaml", "testdata/archives/ok.yaml"}, nil)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	r := Check(context.Background(), objs, loadValidator(t))
	if r.Failed(false) || r.Count(SeverityMissing) != 1 {
		t.Fatalf("findings %v: want only the group's Cluster missing", r.Findings)
	}
}
