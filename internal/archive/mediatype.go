package archive

// Media types of a flash archive. They are ours and versioned: a reader that meets a v2 type it
// does not know refuses the archive instead of guessing. docs/archive-format.md is the contract.
const (
	// ArtifactType is the manifest's artifactType: what tools such as oras show as the kind.
	ArtifactType = "application/vnd.flarecast.archive.v1"
	// MediaTypeConfig is the config blob: the identification, as JSON.
	MediaTypeConfig = "application/vnd.flarecast.archive.config.v1+json"
	// MediaTypeArchiveLayer is the binary section: the root file system, a deterministic tar
	// compressed with zstd.
	MediaTypeArchiveLayer = "application/vnd.flarecast.archive.layer.v1.tar+zstd"
	// MediaTypeConfigurationLayer is the configuration section: user files, install scripts and
	// configuration.json (stages and order), a tar compressed with zstd.
	MediaTypeConfigurationLayer = "application/vnd.flarecast.archive.configuration.v1.tar+zstd"
	// MediaTypeClusterLayer is the cluster section: cluster-specific files and cluster.json
	// (the node table), a tar compressed with zstd.
	MediaTypeClusterLayer = "application/vnd.flarecast.archive.cluster.v1.tar+zstd"
)

// Section names: the org.opencontainers.image.title of each layer, and the keys of the diff
// IDs in the config.
const (
	SectionArchive       = "archive"
	SectionConfiguration = "configuration"
	SectionCluster       = "cluster"
)

// Annotations set on the manifest and its layers.
const (
	AnnotationTitle   = "org.opencontainers.image.title"
	AnnotationCreated = "org.opencontainers.image.created"
	// AnnotationName carries the archive's name on the manifest, so a registry listing shows it.
	AnnotationName = "io.flarecast.archive.name"
	// AnnotationType carries Generic, Configured or Deployable on the manifest.
	AnnotationType = "io.flarecast.archive.type"
)

// sectionMediaType maps a section name to its layer media type, in the order the layers appear
// in a manifest: the binary section first, so that applying the layers in order over an empty
// directory gives the node's file system.
var sectionOrder = []struct {
	name      string
	mediaType string
}{
	{SectionArchive, MediaTypeArchiveLayer},
	{SectionConfiguration, MediaTypeConfigurationLayer},
	{SectionCluster, MediaTypeClusterLayer},
}

func sectionForMediaType(mt string) (name string, rank int, ok bool) {
	for i, s := range sectionOrder {
		if s.mediaType == mt {
			return s.name, i, true
		}
	}
	return "", 0, false
}

func mediaTypeForSection(name string) string {
	for _, s := range sectionOrder {
		if s.name == name {
			return s.mediaType
		}
	}
	return ""
}
