package flar

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/flarecast/flarecast/internal/archive"
	"github.com/flarecast/flarecast/internal/repository"
)

func TestExportImportRoundTripStoresSharedBlobsOnce(t *testing.T) {
	ctx := context.Background()
	src, _ := openStore(t)
	base, conf, dep := softwareLoad(t, src, 300<<10)
	file := exportBytes(t, src, "web-prod", "base", "web-conf")

	h, _, err := ReadHeader(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, s := range h.Sections {
		kinds = append(kinds, s.Kind)
	}
	want := []string{"manifest", "manifest", "manifest", "config", "config", "config", "configuration", "cluster", "archive"}
	if !slices.Equal(kinds, want) {
		t.Fatalf("sections %v, want %v (the binary section once)", kinds, want)
	}

	dst, _ := openStore(t)
	res, err := Import(ctx, dst, bytes.NewReader(file), ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stored != len(want) || res.Present != 0 {
		t.Fatalf("stored %d, present %d; want %d, 0", res.Stored, res.Present, len(want))
	}
	for name, d := range map[string]digest.Digest{"base": base.Digest, "web-conf": conf.Digest, "web-prod": dep.Digest} {
		got, err := dst.Resolve(ctx, name)
		if err != nil || got.Digest != d {
			t.Fatalf("%s: %v %v, want %s", name, got.Digest, err, d)
		}
		if _, err := archive.Verify(ctx, dst, name, archive.VerifyOptions{}); err != nil {
			t.Fatalf("imported %s does not verify: %v", name, err)
		}
	}
	again, err := Import(ctx, dst, bytes.NewReader(file), ImportOptions{})
	if err != nil || again.Stored != 0 || again.Present != len(want) {
		t.Fatalf("second import: %+v %v, want everything present", again, err)
	}
}

func TestExportIsReproducible(t *testing.T) {
	a, _ := openStore(t)
	b, _ := openStore(t)
	softwareLoad(t, a, 50<<10)
	softwareLoad(t, b, 50<<10)
	if fa, fb := exportBytes(t, a, "web-prod"), exportBytes(t, b, "web-prod"); !bytes.Equal(fa, fb) {
		t.Fatal("two exports of the same archive differ")
	}
}

// sectionOffset finds where the bytes of section n start in an export file.
func sectionOffset(t *testing.T, file []byte, n int) int {
	t.Helper()
	marker := fmt.Sprintf("\nsection_begin=section.%d\n", n)
	i := bytes.Index(file, []byte(marker))
	if i < 0 {
		t.Fatalf("no %q", marker)
	}
	return i + len(marker)
}

func TestImportRefusesDamagedFilesAndLeavesTheStoreAsItWas(t *testing.T) {
	src, _ := openStore(t)
	softwareLoad(t, src, 300<<10)
	good := exportBytes(t, src, "web-prod")
	h, _, err := ReadHeader(bytes.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	// web-prod alone: manifest, config, configuration, cluster, archive.
	section := func(kind string) int {
		for i, s := range h.Sections {
			if s.Kind == kind {
				return i + 1
			}
		}
		t.Fatalf("no %s section", kind)
		return 0
	}
	flip := func(kind string, at func(size int64) int64) []byte {
		n := section(kind)
		b := bytes.Clone(good)
		b[int64(sectionOffset(t, b, n))+at(h.Sections[n-1].Size)] ^= 0x20
		return b
	}
	middle := func(size int64) int64 { return size / 2 }
	last := func(size int64) int64 { return size - 1 }
	truncateIn := func(kind string) []byte {
		n := section(kind)
		return good[:sectionOffset(t, good, n)+int(h.Sections[n-1].Size)/2]
	}
	cases := []struct {
		name string
		file []byte
		want string
	}{
		{"manifest byte flipped", flip("manifest", middle), "section.1 manifest"},
		{"config byte flipped", flip("config", middle), "section.2 config"},
		{"configuration byte flipped", flip("configuration", middle), "section.3 configuration"},
		{"cluster byte flipped", flip("cluster", last), "section.4 cluster"},
		{"binary section byte flipped", flip("archive", middle), "section.5 archive"},
		{"binary section damage named by digest", flip("archive", middle), "content has digest"},
		{"binary section last byte flipped", flip("archive", last), "section.5 archive"},
		{"truncated in the binary section", truncateIn("archive"), "section.5 archive"},
		{"truncated in the config", truncateIn("config"), "section.2 config"},
		{"truncated before the last end marker", good[:len(good)-5], "section.5 archive"},
		{"truncated in the header", good[:40], "truncated"},
		{"empty", nil, "truncated"},
		{"garbage after the end", append(bytes.Clone(good), "more"...), "data after the last section"},
		{"header digest altered", bytes.Replace(good, []byte(h.Sections[4].Digest.Encoded()[:8]), []byte("00000000"), 1), "section.5 archive"},
		{"header size altered", bytes.Replace(good, []byte(fmt.Sprintf(" %d\n", h.Sections[2].Size)), []byte(fmt.Sprintf(" %d\n", h.Sections[2].Size+1)), 1), "total_size"},
		{"not an export file", []byte("hello\n"), "not a flarecast export file"},
		{"a later format", bytes.Replace(good, []byte(Magic), []byte("flarecast-export-v2"), 1), "is not one this flarecast reads"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dst, dir := openStore(t)
			_, err := Import(context.Background(), dst, bytes.NewReader(tc.file), ImportOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Import: err %v, want it to name %q", err, tc.want)
			}
			assertUntouched(t, dst, dir)
		})
	}
}

func TestImportKeepsExistingNamesWhenTheFileIsDamaged(t *testing.T) {
	ctx := context.Background()
	src, _ := openStore(t)
	softwareLoad(t, src, 100<<10)
	file := exportBytes(t, src, "web-prod")
	dst, _ := openStore(t)
	base, _, _ := softwareLoad(t, dst, 10<<10) // other archives under the same names
	before, _ := dst.List(ctx)
	if _, err := Import(ctx, dst, bytes.NewReader(file[:len(file)-100]), ImportOptions{}); err == nil {
		t.Fatal("truncated file imported")
	}
	after, _ := dst.List(ctx)
	if !slices.EqualFunc(before, after, func(a, b repository.Entry) bool {
		return a.Name == b.Name && a.Descriptor.Digest == b.Descriptor.Digest
	}) {
		t.Fatalf("names changed: %v -> %v", before, after)
	}
	if got, _ := dst.Resolve(ctx, "base"); got.Digest != base.Digest {
		t.Fatal("base was renamed")
	}
}

func TestExportOfASoftwareLoadRefusesArchivesThatAreNotDeployable(t *testing.T) {
	src, _ := openStore(t)
	softwareLoad(t, src, 10<<10)
	var buf bytes.Buffer
	_, err := Export(context.Background(), src, &buf, []string{"web-prod", "base"}, ExportOptions{SoftwareLoad: true})
	if err == nil || !strings.Contains(err.Error(), "generic and configured archives are never deployable") {
		t.Fatalf("err %v", err)
	}
	buf.Reset()
	h, err := Export(context.Background(), src, &buf, []string{"web-prod"}, ExportOptions{SoftwareLoad: true})
	if err != nil || h.SoftwareLoad == nil || h.SoftwareLoad.Cluster != "prod" {
		t.Fatalf("software load export: %+v %v", h, err)
	}
	back, _, err := ReadHeader(bytes.NewReader(buf.Bytes()))
	if err != nil || *back.SoftwareLoad != *h.SoftwareLoad {
		t.Fatalf("header read back %+v %v", back, err)
	}
}

func TestExportRefusesADamagedRepository(t *testing.T) {
	src, dir := openStore(t)
	softwareLoad(t, src, 100<<10)
	a, err := archive.Load(context.Background(), src, "base")
	if err != nil {
		t.Fatal(err)
	}
	layer, _ := a.Section(archive.SectionArchive)
	blob := filepath.Join(dir, "blobs", "sha256", layer.Digest.Encoded())
	b, err := os.ReadFile(blob)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/3] ^= 1
	os.Chmod(blob, 0o644)
	if err := os.WriteFile(blob, b, 0o644); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	_, err = Export(context.Background(), src, &buf, []string{"base"}, ExportOptions{})
	if err == nil || !strings.Contains(err.Error(), "archive "+layer.Digest.String()) {
		t.Fatalf("export of a damaged blob: err %v", err)
	}
}
