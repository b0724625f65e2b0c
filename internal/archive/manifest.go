package archive

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// maxManifestSize is what registries commonly accept for a manifest (4 MiB).
const maxManifestSize = 4 << 20

// Section is one layer of an archive, by name.
type Section struct {
	Name       string             `json:"name"`
	Descriptor ocispec.Descriptor `json:"descriptor"`
}

// buildManifest assembles the manifest of an archive from its config descriptor and sections.
// Sections are put in the canonical order whatever order they come in.
func buildManifest(cfg *Config, config ocispec.Descriptor, sections []Section) ([]byte, error) {
	layers := make([]ocispec.Descriptor, 0, len(sections))
	for _, s := range sectionOrder {
		for _, sec := range sections {
			if sec.Name != s.name {
				continue
			}
			d := sec.Descriptor
			d.MediaType = s.mediaType
			d.Annotations = map[string]string{AnnotationTitle: s.name}
			layers = append(layers, d)
		}
	}
	m := ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: ArtifactType,
		Config:       config,
		Layers:       layers,
		Annotations:  configAnnotations(cfg),
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode manifest of %s: %w", cfg.Name, err)
	}
	if _, err := DecodeManifest(b); err != nil {
		return nil, fmt.Errorf("encode manifest of %s: %w", cfg.Name, err)
	}
	return b, nil
}

// configAnnotations are the manifest annotations that repeat the config, for registry listings
// and tools that show a manifest but not its config.
func configAnnotations(cfg *Config) map[string]string {
	ann := map[string]string{AnnotationName: cfg.Name, AnnotationType: string(cfg.Type)}
	if cfg.Created != nil {
		ann[AnnotationCreated] = cfg.Created.UTC().Format(time.RFC3339)
	}
	return ann
}

// DecodeManifest parses a manifest and checks that it is a flarecast archive of this version:
// the artifact and config types are ours, the archive section comes first, each section appears
// at most once and in order, every digest is well formed and every size is sane.
func DecodeManifest(b []byte) (*ocispec.Manifest, error) {
	if len(b) > maxManifestSize {
		return nil, fmt.Errorf("decode manifest: %d bytes is more than the %d a manifest may have", len(b), maxManifestSize)
	}
	var m ocispec.Manifest
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("decode manifest: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("decode manifest: data after the JSON object")
	}
	if m.SchemaVersion != 2 || m.MediaType != ocispec.MediaTypeImageManifest {
		return nil, fmt.Errorf("decode manifest: not an OCI image manifest (schemaVersion %d, mediaType %q)", m.SchemaVersion, m.MediaType)
	}
	if m.ArtifactType != ArtifactType {
		return nil, fmt.Errorf("decode manifest: artifactType %q is not a flarecast archive (want %s)", m.ArtifactType, ArtifactType)
	}
	if m.Config.MediaType != MediaTypeConfig {
		return nil, fmt.Errorf("decode manifest: config mediaType %q, want %s", m.Config.MediaType, MediaTypeConfig)
	}
	if err := checkDescriptor("config", m.Config); err != nil {
		return nil, err
	}
	if m.Config.Size > maxConfigSize {
		return nil, fmt.Errorf("decode manifest: config of %d bytes is more than the %d a config may have", m.Config.Size, maxConfigSize)
	}
	if len(m.Layers) == 0 {
		return nil, fmt.Errorf("decode manifest: no layers, an archive has at least its %s section", SectionArchive)
	}
	last := -1
	for i, l := range m.Layers {
		name, rank, ok := sectionForMediaType(l.MediaType)
		if !ok {
			return nil, fmt.Errorf("decode manifest: layer %d has media type %q, not a flarecast section", i, l.MediaType)
		}
		if i == 0 && name != SectionArchive {
			return nil, fmt.Errorf("decode manifest: the first layer must be the %s section, found %s", SectionArchive, name)
		}
		if rank <= last {
			return nil, fmt.Errorf("decode manifest: section %s is repeated or out of order", name)
		}
		last = rank
		if err := checkDescriptor("section "+name, l); err != nil {
			return nil, err
		}
	}
	return &m, nil
}

func checkDescriptor(what string, d ocispec.Descriptor) error {
	if err := d.Digest.Validate(); err != nil {
		return fmt.Errorf("decode manifest: %s digest %q: %w", what, d.Digest, err)
	}
	if d.Digest.Algorithm() != digest.SHA256 {
		return fmt.Errorf("decode manifest: %s digest %s: only sha256 is used", what, d.Digest)
	}
	if d.Size < 0 {
		return fmt.Errorf("decode manifest: %s has negative size %d", what, d.Size)
	}
	return nil
}

// Sections returns the sections of a decoded manifest, by name, in order.
func Sections(m *ocispec.Manifest) []Section {
	out := make([]Section, 0, len(m.Layers))
	for _, l := range m.Layers {
		name, _, _ := sectionForMediaType(l.MediaType)
		out = append(out, Section{Name: name, Descriptor: l})
	}
	return out
}
