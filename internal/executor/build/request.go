package build

import (
	"encoding/json"
	"fmt"

	"github.com/opencontainers/go-digest"

	"github.com/flarecast/flarecast/internal/archive"
)

// Keys of the inputs recorded in the archive's config, so that an archive in the repository
// says which FlashArchive and which inputs it was built from.
const (
	InputInputsDigest = "flarecast.io/inputs-digest"
	InputFlashArchive = "flarecast.io/flasharchive"
	InputRootfsURL    = "flarecast.io/rootfs-url"
	InputRootfsDigest = "flarecast.io/rootfs-digest"
	InputDistribution = "flarecast.io/distribution"
)

// Request is one build: a JSON document an executor hands to `flarecast archive build`.
type Request struct {
	// Archive is the FlashArchive's namespace/name, recorded in the config and in messages.
	Archive string `json:"archive"`
	// Repository is the store location the build writes to (a directory or oci://…).
	Repository string `json:"repository"`
	// Tag is the archive's name in the repository.
	Tag    string `json:"tag"`
	Inputs Inputs `json:"inputs"`
}

// Inputs is everything an archive is made from. Its digest (InputsDigest) changes exactly
// when the archive would: same inputs, same archive.
type Inputs struct {
	Type archive.Type `json:"type"`
	// Arch is the OCI architecture of a Generic archive; derived ones inherit their base's.
	Arch string `json:"arch,omitempty"`
	// Distribution is the operating system distribution, "debian 12", recorded as is.
	Distribution string  `json:"distribution,omitempty"`
	Rootfs       *Rootfs `json:"rootfs,omitempty"`
	// Base is the manifest digest of the archive a Configured or Deployable one derives from.
	Base          digest.Digest                   `json:"base,omitempty"`
	Configuration *Configuration                  `json:"configuration,omitempty"`
	Cluster       *Cluster                        `json:"cluster,omitempty"`
	SoftwareLoad  *archive.SoftwareLoadDescriptor `json:"softwareLoad,omitempty"`
	NodesGroup    string                          `json:"nodesGroup,omitempty"`
}

// Rootfs is a tarball (plain, gzip or zstd) at a file:// or http(s):// URL, and its digest.
type Rootfs struct {
	URL    string        `json:"url"`
	Digest digest.Digest `json:"digest"`
}

// File is a file with its content (base64 in JSON).
type File struct {
	Path string `json:"path"`
	Mode uint32 `json:"mode"`
	Data []byte `json:"data"`
}

// Script is an install script with its content.
type Script struct {
	Name  string        `json:"name"`
	Stage archive.Stage `json:"stage"`
	Order int           `json:"order"`
	Data  []byte        `json:"data"`
}

// Configuration is a configuration section with its content.
type Configuration struct {
	Files        []File   `json:"files,omitempty"`
	Scripts      []Script `json:"scripts,omitempty"`
	DoubleReboot bool     `json:"doubleReboot,omitempty"`
}

// Cluster is a cluster section: rendered files and the node table.
type Cluster struct {
	Files []File         `json:"files,omitempty"`
	Nodes []archive.Node `json:"nodes"`
}

// Digest is the inputs digest: the sha256 of the inputs' JSON, which is canonical (struct
// fields in order, the descriptor normalized by its maker).
func (in *Inputs) Digest() digest.Digest {
	b, _ := json.Marshal(in) // plain structs, strings and bytes: cannot fail
	return digest.FromBytes(b)
}

// Validate checks that the request says what to build, from what, and where.
func (r *Request) Validate() error {
	if r.Repository == "" || r.Tag == "" {
		return fmt.Errorf("build request for %s: repository and tag are required", r.Archive)
	}
	in := &r.Inputs
	switch in.Type {
	case archive.Generic:
		if in.Rootfs == nil || in.Arch == "" {
			return fmt.Errorf("build request for %s: a Generic archive needs a rootfs and an arch", r.Archive)
		}
		if err := in.Rootfs.Digest.Validate(); err != nil {
			return fmt.Errorf("build request for %s: rootfs digest %q: %w", r.Archive, in.Rootfs.Digest, err)
		}
	case archive.Configured, archive.Deployable:
		if err := in.Base.Validate(); err != nil {
			return fmt.Errorf("build request for %s: base digest %q: %w", r.Archive, in.Base, err)
		}
	default:
		return fmt.Errorf("build request for %s: unknown type %q", r.Archive, in.Type)
	}
	return nil
}

func (c *Configuration) archive() *archive.Configuration {
	if c == nil {
		return nil
	}
	out := &archive.Configuration{DoubleReboot: c.DoubleReboot, Files: files(c.Files)}
	for _, s := range c.Scripts {
		out.Scripts = append(out.Scripts, archive.Script{Name: s.Name, Stage: s.Stage, Order: s.Order, Data: s.Data})
	}
	return out
}

func (c *Cluster) archive() *archive.ClusterSection {
	if c == nil {
		return nil
	}
	return &archive.ClusterSection{Files: files(c.Files), Nodes: c.Nodes}
}

func files(in []File) []archive.File {
	var out []archive.File
	for _, f := range in {
		out = append(out, archive.File{Path: f.Path, Mode: f.Mode, Data: f.Data})
	}
	return out
}
