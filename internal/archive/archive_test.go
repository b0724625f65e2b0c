package archive

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/flarecast/flarecast/internal/tarball"
)

func TestCreateGivesTheSameDigestForTheSameTree(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	writeTree(t, root, 3<<20)
	create := func(epoch int64, name string) digest.Digest {
		s, _ := openStore(t)
		created := time.Unix(epoch, 0).UTC()
		d, _, err := Create(ctx, s, tarball.DirSource(root), CreateOptions{Name: name, Architecture: "amd64", OS: "linux", Created: &created})
		if err != nil {
			t.Fatal(err)
		}
		return d.Digest
	}
	a, b := create(1700000000, "base"), create(1700000000, "base")
	if a != b {
		t.Fatalf("same tree, same inputs: %s and %s", a, b)
	}
	if c := create(1700000001, "base"); c == a {
		t.Fatalf("another SOURCE_DATE_EPOCH gave the same digest %s", c)
	}
	if c := create(1700000000, "other"); c == a {
		t.Fatalf("another name gave the same digest %s", c)
	}
}

func TestCreateWithoutDateRecordsNoTime(t *testing.T) {
	s, _ := openStore(t)
	root := t.TempDir()
	writeTree(t, root, 1000)
	if _, _, err := Create(context.Background(), s, tarball.DirSource(root), CreateOptions{Name: "base", Architecture: "amd64", OS: "linux"}); err != nil {
		t.Fatal(err)
	}
	a, err := Load(context.Background(), s, "base")
	if err != nil {
		t.Fatal(err)
	}
	if a.Config.Created != nil || a.Manifest.Annotations[AnnotationCreated] != "" {
		t.Fatalf("created recorded without SOURCE_DATE_EPOCH: %v %q", a.Config.Created, a.Manifest.Annotations[AnnotationCreated])
	}
}

func TestBinarySectionReadsWithGNUTarAndZstd(t *testing.T) {
	for _, tool := range []string{"tar", "zstd"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed to check the format with standard tools (apt-get install tar zstd): %v", tool, err)
		}
	}
	s, repoDir := openStore(t)
	createGeneric(t, s, "base", 2<<20)
	a, err := Load(context.Background(), s, "base")
	if err != nil {
		t.Fatal(err)
	}
	layer, _ := a.Section(SectionArchive)
	blob := filepath.Join(repoDir, "blobs", "sha256", layer.Digest.Encoded())
	out := t.TempDir()
	cmd := exec.Command("sh", "-c", `zstd -dc "$1" | tar -xpf - -C "$2" && zstd -dc "$1" | sha256sum`, "sh", blob, out)
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("zstd | tar: %v\n%s", err, b)
	}
	if got := "sha256:" + strings.Fields(string(b))[0]; got != string(a.Config.DiffIDs[SectionArchive]) {
		t.Fatalf("sha256 of the tar is %s, config diffID %s", got, a.Config.DiffIDs[SectionArchive])
	}
	got, err := os.ReadFile(filepath.Join(out, "etc/os-release"))
	if err != nil || string(got) != "ID=flarecast-test\n" {
		t.Fatalf("etc/os-release: %q %v", got, err)
	}
	if l, err := os.Readlink(filepath.Join(out, "etc/tool-link")); err != nil || l != "../usr/bin/tool" {
		t.Fatalf("symlink: %q %v", l, err)
	}
	var st1, st2 os.FileInfo
	st1, _ = os.Stat(filepath.Join(out, "usr/bin/tool"))
	st2, _ = os.Stat(filepath.Join(out, "usr/bin/tool-hard"))
	if st1 == nil || st2 == nil || !os.SameFile(st1, st2) {
		t.Fatal("hard link not kept")
	}
}

func TestDeriveWritesOnlySmallBlobsAndKeepsTheBinarySection(t *testing.T) {
	ctx := context.Background()
	s, repoDir := openStore(t)
	g := createGeneric(t, s, "base", 8<<20)
	before, _ := blobBytes(t, repoDir)

	conf, err := Derive(ctx, s, DeriveOptions{Base: "base", Name: "web-conf", Type: Configured, Configuration: sampleConfiguration("one")})
	if err != nil {
		t.Fatal(err)
	}
	dep, err := Derive(ctx, s, DeriveOptions{Base: "web-conf", Name: "web-prod", Type: Deployable, Cluster: sampleCluster(),
		SoftwareLoad: sampleLoad(conf.Descriptor.Digest), NodesGroup: "web"})
	if err != nil {
		t.Fatal(err)
	}
	after, _ := blobBytes(t, repoDir)
	const limit = 16 << 10
	if grew := after - before; grew > limit || conf.Written.Bytes+dep.Written.Bytes != grew {
		t.Fatalf("two derives grew the store by %d bytes (reported %d+%d), want under %d", grew, conf.Written.Bytes, dep.Written.Bytes, limit)
	}
	base, _ := Load(ctx, s, g.Digest.String())
	want, _ := base.Section(SectionArchive)
	for _, name := range []string{"web-conf", "web-prod"} {
		a, err := Load(ctx, s, name)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := a.Section(SectionArchive)
		if got.Digest != want.Digest || a.Config.DiffIDs[SectionArchive] != base.Config.DiffIDs[SectionArchive] {
			t.Fatalf("%s: binary section %s, base has %s", name, got.Digest, want.Digest)
		}
	}
	again, err := Derive(ctx, s, DeriveOptions{Base: "base", Name: "web-conf", Type: Configured, Configuration: sampleConfiguration("one")})
	if err != nil {
		t.Fatal(err)
	}
	if again.Descriptor.Digest != conf.Descriptor.Digest || again.Written.Blobs != 0 {
		t.Fatalf("repeating a derive gave %s (wrote %d blobs), first gave %s", again.Descriptor.Digest, again.Written.Blobs, conf.Descriptor.Digest)
	}
}

func TestDeriveReplacesTheConfigurationSectionNeverStacks(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	g := createGeneric(t, s, "base", 1000)
	first, err := Derive(ctx, s, DeriveOptions{Base: "base", Name: "c1", Type: Configured, Configuration: sampleConfiguration("one")})
	if err != nil {
		t.Fatal(err)
	}
	second := &Configuration{Files: []File{{Path: "/etc/only-in-two", Data: []byte("two\n")}}}
	if _, err := Derive(ctx, s, DeriveOptions{Base: "c1", Name: "c2", Type: Configured, Configuration: second}); err != nil {
		t.Fatal(err)
	}
	a, err := Load(ctx, s, "c2")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(a.Manifest.Layers); n != 2 {
		t.Fatalf("c2 has %d layers, want the binary section and one configuration section", n)
	}
	if want := []digest.Digest{g.Digest, first.Descriptor.Digest}; !slices.Equal(a.Config.Lineage, want) {
		t.Fatalf("lineage %v, want %v", a.Config.Lineage, want)
	}
	root := t.TempDir()
	if _, err := Extract(ctx, s, "c2", root, ExtractOptions{Rootless: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "etc/app/app.conf")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a file of the replaced section is still there (stat: %v)", err)
	}
	if b, err := os.ReadFile(filepath.Join(root, "etc/only-in-two")); err != nil || string(b) != "two\n" {
		t.Fatalf("new file: %q %v", b, err)
	}
}

func TestDeriveRefusesWhatTheSeedForbids(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	g := createGeneric(t, s, "base", 1000)
	if _, err := Derive(ctx, s, DeriveOptions{Base: "base", Name: "dep", Type: Deployable, Cluster: sampleCluster(), SoftwareLoad: sampleLoad(g.Digest), NodesGroup: "web"}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		opts DeriveOptions
		want string
	}{
		{"deployable from deployable", DeriveOptions{Base: "dep", Name: "x", Type: Deployable, Cluster: sampleCluster(), SoftwareLoad: sampleLoad(g.Digest), NodesGroup: "web"}, "a deployable cannot be derived from a deployable"},
		{"configured from deployable", DeriveOptions{Base: "dep", Name: "x", Type: Configured, Configuration: sampleConfiguration("x")}, "a deployable cannot be derived from a deployable"},
		{"generic by derive", DeriveOptions{Base: "base", Name: "x", Type: Generic}, "created from a root file system"},
		{"configured with a cluster section", DeriveOptions{Base: "base", Name: "x", Type: Configured, Cluster: sampleCluster()}, "derive a Deployable"},
		{"deployable without descriptor", DeriveOptions{Base: "base", Name: "x", Type: Deployable, Cluster: sampleCluster(), NodesGroup: "web"}, "needs a cluster section, a software-load descriptor"},
		{"group not in the load", DeriveOptions{Base: "base", Name: "x", Type: Deployable, Cluster: sampleCluster(), SoftwareLoad: sampleLoad(g.Digest), NodesGroup: "mail"}, "nodes group mail is not in the software-load descriptor"},
		{"load names another archive", DeriveOptions{Base: "base", Name: "x", Type: Deployable, Cluster: sampleCluster(), SoftwareLoad: sampleLoad(digest.FromString("other")), NodesGroup: "web"}, "says nodes group web runs"},
		{"unknown stage", DeriveOptions{Base: "base", Name: "x", Type: Configured, Configuration: &Configuration{Scripts: []Script{{Name: "a", Stage: "Never"}}}}, "unknown stage"},
		{"file in the reserved directory", DeriveOptions{Base: "base", Name: "x", Type: Configured, Configuration: &Configuration{Files: []File{{Path: "/var/lib/flarecast/x"}}}}, "reserved for flarecast"},
		{"relative file path", DeriveOptions{Base: "base", Name: "x", Type: Configured, Configuration: &Configuration{Files: []File{{Path: "etc/x"}}}}, "must be absolute"},
		{"node in two groups", DeriveOptions{Base: "base", Name: "x", Type: Deployable, Cluster: sampleCluster(), NodesGroup: "web", SoftwareLoad: &SoftwareLoadDescriptor{Cluster: "c", Groups: []GroupLoad{{Name: "web", Archive: g.Digest, Nodes: []string{"n1"}}, {Name: "db", Archive: g.Digest, Nodes: []string{"n1"}}}}}, "node n1 is in groups"},
		{"duplicate node id", DeriveOptions{Base: "base", Name: "x", Type: Deployable, Cluster: &ClusterSection{Nodes: []Node{{Name: "a", ID: 1}, {Name: "b", ID: 1}}}, SoftwareLoad: sampleLoad(g.Digest), NodesGroup: "web"}, "share node id 1"},
		{"missing base", DeriveOptions{Base: "nope", Name: "x", Type: Configured}, "not found"},
		{"name that is not a tag", DeriveOptions{Base: "base", Name: "a:b", Type: Configured}, "invalid archive name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := s.List(ctx)
			_, err := Derive(ctx, s, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Derive: err %v, want it to say %q", err, tc.want)
			}
			after, _ := s.List(ctx)
			if len(after) != len(before) {
				t.Fatalf("a refused derive added a name: %v", after)
			}
		})
	}
}

func TestExtractAppliesConfigurationAndClusterSections(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	createGeneric(t, s, "base", 1000)
	conf, err := Derive(ctx, s, DeriveOptions{Base: "base", Name: "web-conf", Type: Configured, Configuration: sampleConfiguration("one")})
	if err != nil {
		t.Fatal(err)
	}
	load := sampleLoad(conf.Descriptor.Digest)
	if _, err := Derive(ctx, s, DeriveOptions{Base: "web-conf", Name: "web-prod", Type: Deployable, Cluster: sampleCluster(), SoftwareLoad: load, NodesGroup: "web"}); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	reps, err := Extract(ctx, s, "web-prod", root, ExtractOptions{RequireDeployable: true, Rootless: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(reps) != 3 {
		t.Fatalf("%d sections extracted, want 3", len(reps))
	}
	files := map[string]struct {
		content string
		mode    os.FileMode
	}{
		"etc/os-release":   {"ID=flarecast-test\n", 0o644},
		"etc/app/app.conf": {"marker=one\n", 0o600},
		"etc/motd":         {"configured by one\n", 0o644},
		"etc/hosts":        {"10.0.0.1 n1\n10.0.0.2 n2\n", 0o644},
		"var/lib/flarecast/configuration/scripts/10-before.sh": {"#!/bin/sh\necho before\n", 0o755},
	}
	for p, want := range files {
		b, err := os.ReadFile(filepath.Join(root, p))
		fi, _ := os.Stat(filepath.Join(root, p))
		if err != nil || string(b) != want.content || fi.Mode().Perm() != want.mode {
			t.Errorf("%s: %q (%v), want %q %v; err %v", p, b, fi.Mode().Perm(), want.content, want.mode, err)
		}
	}
	var cm ConfigurationManifest
	readJSON(t, filepath.Join(root, "var/lib/flarecast/configuration/configuration.json"), &cm)
	var order []string
	for _, s := range cm.Scripts {
		order = append(order, string(s.Stage)+"/"+s.Name)
	}
	if want := []string{"FirstBoot/05-first.sh", "BeforeServices/10-before.sh", "AfterServices/20-after.sh"}; !slices.Equal(order, want) || !cm.DoubleReboot {
		t.Fatalf("configuration.json scripts %v doubleReboot %v, want %v true", order, cm.DoubleReboot, want)
	}
	var cl ClusterManifest
	readJSON(t, filepath.Join(root, "var/lib/flarecast/cluster/cluster.json"), &cl)
	if len(cl.Nodes) != 2 || cl.Nodes[0].Name != "n1" {
		t.Fatalf("cluster.json nodes %+v, want n1 then n2", cl.Nodes)
	}
	var swl SoftwareLoadDescriptor
	readJSON(t, filepath.Join(root, "var/lib/flarecast/cluster/software-load.json"), &swl)
	if swl.Group("web") == nil || swl.Group("web").Archive != conf.Descriptor.Digest || swl.Groups[0].Name != "db" {
		t.Fatalf("software-load.json %+v", swl)
	}
}

func readJSON(t *testing.T, p string, v any) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", p, err)
	}
}

func TestExtractForInstallRefusesArchivesThatAreNotDeployable(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	createGeneric(t, s, "base", 1000)
	if _, err := Derive(ctx, s, DeriveOptions{Base: "base", Name: "conf", Type: Configured, Configuration: sampleConfiguration("x")}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"base": "generic archives are never deployable", "conf": "is a Configured archive, not a Deployable one"} {
		root := t.TempDir()
		_, err := Extract(ctx, s, name, root, ExtractOptions{RequireDeployable: true, Rootless: true})
		if !errors.Is(err, ErrNotDeployable) || !strings.Contains(err.Error(), want) {
			t.Fatalf("%s: err %v, want %q", name, err, want)
		}
		if entries, _ := os.ReadDir(root); len(entries) != 0 {
			t.Fatalf("%s: refused archive wrote %d entries", name, len(entries))
		}
	}
}

func TestVerifyNamesTheDamagedSection(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name    string
		section string
		want    string
	}{
		{"binary section flipped", SectionArchive, "section archive"},
		{"configuration section flipped", SectionConfiguration, "section configuration"},
		{"config flipped", "config", "config"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, repoDir := openStore(t)
			createGeneric(t, s, "base", 200<<10)
			if _, err := Derive(ctx, s, DeriveOptions{Base: "base", Name: "conf", Type: Configured, Configuration: sampleConfiguration("x")}); err != nil {
				t.Fatal(err)
			}
			if _, err := Verify(ctx, s, "conf", VerifyOptions{}); err != nil {
				t.Fatalf("sound archive: %v", err)
			}
			a, _ := Load(ctx, s, "conf")
			d := a.Manifest.Config
			if tc.section != "config" {
				d, _ = a.Section(tc.section)
			}
			flipByte(t, filepath.Join(repoDir, "blobs/sha256", d.Digest.Encoded()), d.Size/2)
			_, err := Verify(ctx, s, "conf", VerifyOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Verify: err %v, want it to name %q", err, tc.want)
			}
		})
	}
}

func TestVerifyChecksTheTarInsideAgainstItsDiffID(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	createGeneric(t, s, "base", 1000)
	a, _ := Load(ctx, s, "base")
	cfg := *a.Config
	cfg.Name = "lying"
	cfg.DiffIDs = map[string]digest.Digest{SectionArchive: digest.FromString("not the tar")}
	if _, err := writeArchive(ctx, s, &cfg, Sections(a.Manifest), "lying", nil); err != nil {
		t.Fatal(err)
	}
	_, err := Verify(ctx, s, "lying", VerifyOptions{})
	if err == nil || !strings.Contains(err.Error(), "diffID") || !strings.Contains(err.Error(), "section archive") {
		t.Fatalf("Verify: err %v, want a diffID fault in section archive", err)
	}
}

// A hostile archive whose binary section inflates far past the tar size its config records
// (a zstd or sparse bomb, with digests that all match) is refused once past that size by
// Extract and Verify alike, instead of being read to its end.
func TestSectionLargerThanItsRecordedTarSizeIsRefused(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	createGeneric(t, s, "base", 256<<10)
	a, _ := Load(ctx, s, "base")
	cfg := *a.Config
	cfg.Name = "bomb"
	cfg.TarSizes = map[string]int64{SectionArchive: 4096}
	if _, err := writeArchive(ctx, s, &cfg, Sections(a.Manifest), "bomb", nil); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	_, err := Extract(ctx, s, "bomb", dir, ExtractOptions{Rootless: true})
	if err == nil || !strings.Contains(err.Error(), "section archive") || !strings.Contains(err.Error(), "MaxBytes") {
		t.Fatalf("Extract: err %v, want the section refused past its recorded size", err)
	}
	_, err = Verify(ctx, s, "bomb", VerifyOptions{})
	if err == nil || !errors.Is(err, ErrTarTooLarge) || !strings.Contains(err.Error(), "section archive") {
		t.Fatalf("Verify: err %v, want ErrTarTooLarge in section archive", err)
	}
	// The honest archive still extracts and verifies with its own sizes.
	if _, err := Extract(ctx, s, "base", t.TempDir(), ExtractOptions{Rootless: true}); err != nil {
		t.Fatalf("Extract base: %v", err)
	}
	if _, err := Verify(ctx, s, "base", VerifyOptions{}); err != nil {
		t.Fatalf("Verify base: %v", err)
	}
}

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[off] ^= 0xff
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestInspectShowsSectionsAndLineage(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	g := createGeneric(t, s, "base", 1000)
	conf, err := Derive(ctx, s, DeriveOptions{Base: "base", Name: "web-conf", Type: Configured, Configuration: sampleConfiguration("x")})
	if err != nil {
		t.Fatal(err)
	}
	dep, err := Derive(ctx, s, DeriveOptions{Base: "web-conf", Name: "web-prod", Type: Deployable, Cluster: sampleCluster(), SoftwareLoad: sampleLoad(conf.Descriptor.Digest), NodesGroup: "web"})
	if err != nil {
		t.Fatal(err)
	}
	info, err := Inspect(ctx, s, "web-prod")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	var total int64 = info.ManifestSize + info.Config.Size
	for _, sec := range info.Sections {
		names = append(names, sec.Name+" "+sec.MediaType)
		total += sec.Size
	}
	want := []string{"archive " + MediaTypeArchiveLayer, "configuration " + MediaTypeConfigurationLayer, "cluster " + MediaTypeClusterLayer}
	if !slices.Equal(names, want) || info.Size != total || info.Digest != dep.Descriptor.Digest {
		t.Fatalf("sections %v size %d digest %s", names, info.Size, info.Digest)
	}
	if len(info.Lineage) != 2 || info.Lineage[0].Digest != g.Digest || info.Lineage[0].Type != Generic ||
		!slices.Equal(info.Lineage[0].Names, []string{"base"}) || info.Lineage[1].Type != Configured {
		t.Fatalf("lineage %+v", info.Lineage)
	}
	if info.SoftwareLoadDigest == "" || info.SoftwareLoadDigest != info.SoftwareLoad.Digest() {
		t.Fatalf("software-load digest %q", info.SoftwareLoadDigest)
	}
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(info); err != nil || !strings.Contains(buf.String(), `"lineage"`) {
		t.Fatalf("info JSON: %v %s", err, buf.String())
	}
}
