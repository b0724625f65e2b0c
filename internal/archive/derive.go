package archive

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/flarecast/flarecast/internal/repository"
	"github.com/flarecast/flarecast/internal/version"
)

// DeriveOptions says what to derive from which base. A section given replaces the base's
// section of the same name (seed, Figure 8: configuration sections are replaced, never
// stacked); a section not given is carried over as the very same blob.
type DeriveOptions struct {
	// Base names the archive to derive from: a name in the store or a manifest digest.
	Base string
	// Name identifies the new archive; it is also the tag unless Tag is set.
	Name string
	Tag  string
	// Type is Configured or Deployable.
	Type Type
	// Configuration, when set, becomes the configuration section.
	Configuration *Configuration
	// Cluster, SoftwareLoad and NodesGroup make a deployable archive; all three are required
	// for Type Deployable and refused otherwise.
	Cluster      *ClusterSection
	SoftwareLoad *SoftwareLoadDescriptor
	NodesGroup   string
	Inputs       map[string]string
	// Created is recorded in UTC, in whole seconds; callers take it from SOURCE_DATE_EPOCH
	// (see CreatedFromEnv).
	Created *time.Time
}

// Derive makes a configured or deployable archive from a base archive in store and tags it.
// It writes only the new small blobs (sections, config) and the manifest: the binary section
// is referenced, never copied, so the cost follows the configuration and not the image.
func Derive(ctx context.Context, store repository.Store, opts DeriveOptions) (DeriveResult, error) {
	var res DeriveResult
	opts.Created = canonicalCreated(opts.Created)
	base, err := Load(ctx, store, opts.Base)
	if err != nil {
		return res, fmt.Errorf("derive %s: %w", opts.Name, err)
	}
	if err := checkDerive(base, &opts); err != nil {
		return res, fmt.Errorf("derive %s from %s: %w", opts.Name, opts.Base, err)
	}
	if err := repository.ValidateName(tagOf(opts.Tag, opts.Name)); err != nil {
		return res, fmt.Errorf("derive %s: %w", opts.Name, err)
	}
	res.Base = base.Descriptor
	cfg := derivedConfig(base, &opts)
	sections := map[string]ocispec.Descriptor{}
	for _, s := range Sections(base.Manifest) {
		sections[s.Name] = s.Descriptor
	}
	if opts.Configuration != nil {
		ps, err := renderConfiguration(opts.Configuration, opts.Created)
		if err != nil {
			return res, fmt.Errorf("derive %s: %w", opts.Name, err)
		}
		if sections[SectionConfiguration], err = pushBytes(ctx, store, MediaTypeConfigurationLayer, ps.blob, &res.Written); err != nil {
			return res, fmt.Errorf("derive %s: configuration section: %w", opts.Name, err)
		}
		cfg.DiffIDs[SectionConfiguration] = ps.diffID
		cfg.TarSizes[SectionConfiguration] = ps.tarBytes
	}
	if opts.Type == Deployable {
		if err := checkClusterOverConfiguration(ctx, store, base, &opts); err != nil {
			return res, fmt.Errorf("derive %s: %w", opts.Name, err)
		}
		ps, err := renderCluster(opts.Cluster, opts.SoftwareLoad, opts.Created)
		if err != nil {
			return res, fmt.Errorf("derive %s: %w", opts.Name, err)
		}
		if sections[SectionCluster], err = pushBytes(ctx, store, MediaTypeClusterLayer, ps.blob, &res.Written); err != nil {
			return res, fmt.Errorf("derive %s: cluster section: %w", opts.Name, err)
		}
		cfg.DiffIDs[SectionCluster] = ps.diffID
		cfg.TarSizes[SectionCluster] = ps.tarBytes
	}
	var list []Section
	for name, d := range sections {
		list = append(list, Section{Name: name, Descriptor: d})
	}
	res.Descriptor, err = writeArchive(ctx, store, cfg, list, tagOf(opts.Tag, opts.Name), &res.Written)
	return res, err
}

// DeriveResult is the new archive and what deriving it cost.
type DeriveResult struct {
	Descriptor ocispec.Descriptor `json:"descriptor"`
	Base       ocispec.Descriptor `json:"base"`
	// Written counts the blobs new to the store (a repeated derive writes nothing).
	Written Written `json:"written"`
}

// checkDerive holds the consistency rules of the seed: what may be derived from what.
func checkDerive(base *Archive, opts *DeriveOptions) error {
	if opts.Name == "" {
		return fmt.Errorf("the new archive needs a name")
	}
	switch opts.Type {
	case Configured, Deployable:
	case Generic:
		return fmt.Errorf("derive makes Configured or Deployable archives; a Generic archive is created from a root file system")
	default:
		return fmt.Errorf("unknown archive type %q (want Configured or Deployable)", opts.Type)
	}
	if base.Config.Type == Deployable {
		return fmt.Errorf("%s is a Deployable archive: a deployable cannot be derived from a deployable; derive from its base %s", base.Config.Name, base.Config.Lineage[len(base.Config.Lineage)-1])
	}
	if opts.Configuration != nil {
		if err := opts.Configuration.Validate(); err != nil {
			return err
		}
	}
	if opts.Type == Configured {
		if opts.Cluster != nil || opts.SoftwareLoad != nil || opts.NodesGroup != "" {
			return fmt.Errorf("a Configured archive has no cluster section nor software-load descriptor: derive a Deployable archive to add them")
		}
		return nil
	}
	if opts.Cluster == nil || opts.SoftwareLoad == nil || opts.NodesGroup == "" {
		return fmt.Errorf("a Deployable archive needs a cluster section, a software-load descriptor and the nodes group it is for")
	}
	if err := opts.Cluster.Validate(); err != nil {
		return err
	}
	load := *opts.SoftwareLoad
	load.Groups = slices.Clone(load.Groups)
	load.Normalize()
	if err := load.Validate(); err != nil {
		return err
	}
	g := load.Group(opts.NodesGroup)
	if g == nil {
		return fmt.Errorf("nodes group %s is not in the software-load descriptor of cluster %s", opts.NodesGroup, load.Cluster)
	}
	if g.Archive != base.Descriptor.Digest {
		return fmt.Errorf("the software-load descriptor says nodes group %s runs %s, but the base %s is %s", g.Name, g.Archive, opts.Base, base.Descriptor.Digest)
	}
	opts.SoftwareLoad = &load
	return nil
}

func derivedConfig(base *Archive, opts *DeriveOptions) *Config {
	cfg := &Config{
		SchemaVersion:    ConfigSchemaVersion,
		Name:             opts.Name,
		Type:             opts.Type,
		Architecture:     base.Config.Architecture,
		OS:               base.Config.OS,
		Created:          opts.Created,
		Inputs:           maps.Clone(opts.Inputs),
		Lineage:          append(slices.Clone(base.Config.Lineage), base.Descriptor.Digest),
		FlarecastVersion: version.Version,
		DiffIDs:          maps.Clone(base.Config.DiffIDs),
		TarSizes:         maps.Clone(base.Config.TarSizes),
	}
	if opts.Type == Deployable {
		cfg.NodesGroup = opts.NodesGroup
		cfg.SoftwareLoad = opts.SoftwareLoad
	}
	return cfg
}

// writeArchive stores the config and the manifest of an archive whose sections are already in
// the store, then tags it.
func writeArchive(ctx context.Context, store repository.Store, cfg *Config, sections []Section, tag string, written *Written) (ocispec.Descriptor, error) {
	cb, err := EncodeConfig(cfg)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("archive %s: %w", cfg.Name, err)
	}
	cdesc, err := pushBytes(ctx, store, MediaTypeConfig, cb, written)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("archive %s: config: %w", cfg.Name, err)
	}
	mb, err := buildManifest(cfg, cdesc, sections)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	mdesc, err := pushBytes(ctx, store, ocispec.MediaTypeImageManifest, mb, written)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("archive %s: manifest: %w", cfg.Name, err)
	}
	mdesc.ArtifactType = ArtifactType
	if tag != "" {
		if err := store.Tag(ctx, mdesc, tag); err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("tag %s as %s: %w", mdesc.Digest, tag, err)
		}
	}
	return mdesc, nil
}

func tagOf(tag, name string) string {
	if tag != "" {
		return tag
	}
	return name
}

// IsDigest reports whether ref is a manifest digest rather than a name.
func IsDigest(ref string) bool { return digest.Digest(ref).Validate() == nil }

// checkClusterOverConfiguration applies the rule between a deployable's cluster section and
// the configuration section under it: the one given now, or the base's, read from the store.
func checkClusterOverConfiguration(ctx context.Context, store repository.Store, base *Archive, opts *DeriveOptions) error {
	var conf []string
	switch {
	case opts.Configuration != nil:
		for _, f := range opts.Configuration.Files {
			conf = append(conf, f.Path)
		}
	default:
		for _, s := range Sections(base.Manifest) {
			if s.Name != SectionConfiguration {
				continue
			}
			files, err := sectionFiles(ctx, store, s.Descriptor, base.Config.TarSizes[s.Name])
			if err != nil {
				return fmt.Errorf("the base's configuration section: %w", err)
			}
			conf = files
		}
	}
	var cluster []string
	for _, f := range opts.Cluster.Files {
		cluster = append(cluster, f.Path)
	}
	return checkAcrossSections(cluster, conf)
}
