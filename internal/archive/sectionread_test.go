package archive

import (
	"context"
	"strings"
	"testing"
)

func TestReadSectionFilesReadsOnlyTheChosenFiles(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	createGeneric(t, s, "base", 64<<10)
	cl := sampleCluster()
	cl.Files = append(cl.Files,
		File{Path: "/etc/flarecast/plans/n1.json", Data: []byte(`{"node":"n1"}`)},
		File{Path: "/etc/flarecast/plans/n2.json", Data: []byte(strings.Repeat("x", 300))})
	conf, err := Derive(ctx, s, DeriveOptions{Base: "base", Name: "web-conf", Type: Configured, Configuration: sampleConfiguration("one")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Derive(ctx, s, DeriveOptions{Base: "web-conf", Name: "web-prod", Type: Deployable, Cluster: cl,
		SoftwareLoad: sampleLoad(conf.Descriptor.Digest), NodesGroup: "web"}); err != nil {
		t.Fatal(err)
	}
	a, err := Load(ctx, s, "web-prod")
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReadSectionFiles(ctx, s, a, SectionCluster, func(n string) bool { return n == "etc/flarecast/plans/n1.json" || n == "etc/hosts" }, 1024)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || string(got["etc/flarecast/plans/n1.json"]) != `{"node":"n1"}` || !strings.Contains(string(got["etc/hosts"]), "n1") {
		t.Fatalf("read %q", got)
	}
	if _, err := ReadSectionFiles(ctx, s, a, SectionCluster, func(n string) bool { return strings.HasPrefix(n, "etc/flarecast/plans/") }, 100); err == nil || !strings.Contains(err.Error(), "more than the 100 allowed") {
		t.Fatalf("a file past the limit: %v", err)
	}
	if _, err := ReadSectionFiles(ctx, s, a, SectionArchive, func(string) bool { return true }, 100); err == nil {
		t.Fatal("the archive section was read whole")
	}
}
