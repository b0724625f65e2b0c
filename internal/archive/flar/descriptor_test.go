package flar

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/flarecast/flarecast/internal/archive"
)

// rewriteManifest rebuilds an export file of one archive with its manifest changed by edit: the
// header's digests and sizes follow, so only the manifest's own descriptors are wrong.
func rewriteManifest(t *testing.T, file []byte, edit func(m *ocispec.Manifest)) []byte {
	t.Helper()
	h, _, err := ReadHeader(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	contents := make([][]byte, len(h.Sections))
	for i, s := range h.Sections {
		off := sectionOffset(t, file, i+1)
		contents[i] = file[off : off+int(s.Size)]
	}
	if h.Sections[0].Kind != KindManifest || len(h.Archives) != 1 {
		t.Fatalf("want one archive, its manifest first: %+v", h)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(contents[0], &m); err != nil {
		t.Fatal(err)
	}
	edit(&m)
	mb, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	contents[0] = mb
	h.Sections[0].Digest, h.Sections[0].Size = digest.FromBytes(mb), int64(len(mb))
	h.Archives[0].Digest, h.Archives[0].Size = h.Sections[0].Digest, h.Sections[0].Size
	var out bytes.Buffer
	if err := h.Write(&out); err != nil {
		t.Fatal(err)
	}
	for i, c := range contents {
		fmt.Fprintf(&out, "section_begin=section.%d\n%s\nsection_end=section.%d\n", i+1, c, i+1)
	}
	return out.Bytes()
}

// A manifest whose descriptor gives a section or the config another size than the file carries
// names an archive that can never be read back: Import refuses it before anything is stored.
func TestImportRefusesAManifestWhoseDescriptorSizesAreWrong(t *testing.T) {
	src, _ := openStore(t)
	softwareLoad(t, src, 20<<10)
	good := exportBytes(t, src, "web-prod")
	for name, edit := range map[string]func(m *ocispec.Manifest){
		"section size": func(m *ocispec.Manifest) { m.Layers[1].Size++ },
		"archive size": func(m *ocispec.Manifest) { m.Layers[0].Size-- },
		"config size":  func(m *ocispec.Manifest) { m.Config.Size++ },
	} {
		t.Run(name, func(t *testing.T) {
			file := rewriteManifest(t, good, edit)
			dst, dir := openStore(t)
			_, err := Import(context.Background(), dst, bytes.NewReader(file), ImportOptions{})
			if err == nil || !strings.Contains(err.Error(), "size") {
				t.Fatalf("Import: err %v, want it refused for the size", err)
			}
			assertUntouched(t, dst, dir)
		})
	}
	// The rewrite itself keeps a sound file sound.
	dst, _ := openStore(t)
	if _, err := Import(context.Background(), dst, bytes.NewReader(rewriteManifest(t, good, func(*ocispec.Manifest) {})), ImportOptions{}); err != nil {
		t.Fatalf("unchanged manifest refused: %v", err)
	}
}

// A file may leave out a section the store already holds; that section's tar is still checked
// against the diffID the file's config gives it, as the file's own sections are.
func TestImportChecksTheSectionsItTakesFromTheStore(t *testing.T) {
	ctx := context.Background()
	src, _ := openStore(t)
	softwareLoad(t, src, 20<<10)
	good := exportBytes(t, src, "base")
	h, _, err := ReadHeader(bytes.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	contents := map[string][]byte{}
	for i, s := range h.Sections {
		off := sectionOffset(t, good, i+1)
		contents[s.Kind] = good[off : off+int(s.Size)]
	}
	var cfg map[string]any
	if err := json.Unmarshal(contents[KindConfig], &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["name"] = "lying"
	cfg["diffIDs"] = map[string]string{"archive": digest.FromString("not the tar").String()}
	cb, _ := json.Marshal(cfg)
	var m ocispec.Manifest
	if err := json.Unmarshal(contents[KindManifest], &m); err != nil {
		t.Fatal(err)
	}
	m.Config.Digest, m.Config.Size = digest.FromBytes(cb), int64(len(cb))
	m.Annotations["io.flarecast.archive.name"] = "lying"
	mb, _ := json.Marshal(m)
	lying := &Header{ExportedBy: "test",
		Archives: []ArchiveEntry{{Tag: "lying", Type: "Generic", Digest: digest.FromBytes(mb), Size: int64(len(mb))}},
		Sections: []SectionEntry{
			{Kind: KindManifest, MediaType: m.MediaType, Digest: digest.FromBytes(mb), Size: int64(len(mb))},
			{Kind: KindConfig, MediaType: m.Config.MediaType, Digest: m.Config.Digest, Size: m.Config.Size},
		}}
	var file bytes.Buffer
	if err := lying.Write(&file); err != nil {
		t.Fatal(err)
	}
	for i, c := range [][]byte{mb, cb} {
		fmt.Fprintf(&file, "section_begin=section.%d\n%s\nsection_end=section.%d\n", i+1, c, i+1)
	}
	dst, _ := openStore(t)
	softwareLoad(t, dst, 20<<10) // holds the binary section the file leaves out
	if _, err := Import(ctx, dst, &file, ImportOptions{}); err == nil || !strings.Contains(err.Error(), "diffID") {
		if err == nil {
			_, verr := archive.Verify(ctx, dst, "lying", archive.VerifyOptions{})
			t.Fatalf("Import accepted it; Verify of the result: %v", verr)
		}
		t.Fatalf("Import: %v, want the diffID refused", err)
	}
	if _, err := dst.Resolve(ctx, "lying"); err == nil {
		t.Fatal("the refused archive was named")
	}
}

// An export file whose config gives a section a smaller tar than the section inflates to (a
// bomb whose digests all match) is refused once the decoder passes that size, and the store
// is left as it was.
func TestImportRefusesASectionLargerThanItsRecordedTarSize(t *testing.T) {
	ctx := context.Background()
	src, _ := openStore(t)
	softwareLoad(t, src, 64<<10)
	a, err := archive.Load(ctx, src, "base")
	if err != nil {
		t.Fatal(err)
	}
	cfg := *a.Config
	cfg.TarSizes = map[string]int64{archive.SectionArchive: 2048}
	cb, err := archive.EncodeConfig(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	cdesc := ocispec.Descriptor{MediaType: archive.MediaTypeConfig, Digest: digest.FromBytes(cb), Size: int64(len(cb))}
	if err := src.Push(ctx, cdesc, bytes.NewReader(cb)); err != nil {
		t.Fatal(err)
	}
	m := *a.Manifest
	m.Config = cdesc
	mb, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	mdesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(mb), Size: int64(len(mb)), ArtifactType: archive.ArtifactType}
	if err := src.Push(ctx, mdesc, bytes.NewReader(mb)); err != nil {
		t.Fatal(err)
	}
	if err := src.Tag(ctx, mdesc, "bomb"); err != nil {
		t.Fatal(err)
	}
	file := exportBytes(t, src, "bomb")
	dst, dir := openStore(t)
	_, err = Import(ctx, dst, bytes.NewReader(file), ImportOptions{})
	if err == nil || !errors.Is(err, archive.ErrTarTooLarge) {
		t.Fatalf("Import: err %v, want ErrTarTooLarge", err)
	}
	assertUntouched(t, dst, dir)
}
