package archive

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/flarecast/flarecast/internal/repository"
)

// Archive is an archive read back from a store: its manifest and decoded config, both checked
// against their digests and against each other.
type Archive struct {
	// Descriptor is the manifest's descriptor; its digest is the archive's identity.
	Descriptor ocispec.Descriptor
	Manifest   *ocispec.Manifest
	Config     *Config
}

// Section returns the named section's descriptor, if the archive has it.
func (a *Archive) Section(name string) (ocispec.Descriptor, bool) {
	for _, s := range Sections(a.Manifest) {
		if s.Name == name {
			return s.Descriptor, true
		}
	}
	return ocispec.Descriptor{}, false
}

// TotalSize is the sum of the manifest, config and sections: what a copy moves at most.
func (a *Archive) TotalSize() int64 {
	n := a.Descriptor.Size + a.Manifest.Config.Size
	for _, l := range a.Manifest.Layers {
		n += l.Size
	}
	return n
}

// Resolve turns a name (tag) or a manifest digest into the manifest's descriptor.
func Resolve(ctx context.Context, store repository.Store, ref string) (ocispec.Descriptor, error) {
	desc, err := store.Resolve(ctx, ref)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("resolve archive %q: %w", ref, err)
	}
	return desc, nil
}

// Load resolves ref and reads the archive it names.
func Load(ctx context.Context, store repository.Store, ref string) (*Archive, error) {
	desc, err := Resolve(ctx, store, ref)
	if err != nil {
		return nil, err
	}
	a, err := LoadDescriptor(ctx, store, desc)
	if err != nil {
		return nil, fmt.Errorf("archive %s: %w", ref, err)
	}
	return a, nil
}

// LoadDescriptor reads the archive whose manifest desc describes.
func LoadDescriptor(ctx context.Context, store repository.Store, desc ocispec.Descriptor) (*Archive, error) {
	mb, err := fetchSmall(ctx, store, desc, maxManifestSize)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	m, err := DecodeManifest(mb)
	if err != nil {
		return nil, err
	}
	cb, err := fetchSmall(ctx, store, m.Config, maxConfigSize)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg, err := DecodeConfig(cb)
	if err != nil {
		return nil, err
	}
	if err := CheckConsistent(m, cfg); err != nil {
		return nil, err
	}
	desc.MediaType = ocispec.MediaTypeImageManifest
	desc.ArtifactType = ArtifactType
	return &Archive{Descriptor: desc, Manifest: m, Config: cfg}, nil
}

// CheckConsistent refuses an archive whose manifest and config tell different stories: a
// section without its diffID or the other way round, or an annotation (name, type, date) that
// is not the config's.
func CheckConsistent(m *ocispec.Manifest, cfg *Config) error {
	want := configAnnotations(cfg)
	for _, k := range []string{AnnotationName, AnnotationType, AnnotationCreated} {
		if got, ok := m.Annotations[k]; got != want[k] || ok != (want[k] != "") {
			return fmt.Errorf("archive %s: manifest annotation %s is %q, the config says %q", cfg.Name, k, got, want[k])
		}
	}
	var inManifest []string
	for _, s := range Sections(m) {
		inManifest = append(inManifest, s.Name)
	}
	inConfig := slices.Sorted(maps.Keys(cfg.DiffIDs))
	slices.Sort(inManifest)
	if !slices.Equal(inManifest, inConfig) {
		return fmt.Errorf("archive %s: manifest has sections %v but config has diffIDs for %v", cfg.Name, inManifest, inConfig)
	}
	return nil
}

// LineageEntry is one ancestor of an archive, with the names the store knows it by.
type LineageEntry struct {
	Digest digest.Digest `json:"digest"`
	Names  []string      `json:"names,omitempty"`
	// Type is empty when the ancestor is not in this store.
	Type Type `json:"type,omitempty"`
}
