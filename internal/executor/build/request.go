package build

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
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
	// An image source: the reference as given, the manifest (and index) it resolved to, and
	// the image's own configuration (env, entrypoint…), recorded and never applied.
	InputImageRef    = "flarecast.io/image-ref"
	InputImageDigest = "flarecast.io/image-digest"
	InputImageIndex  = "flarecast.io/image-index"
	InputImageConfig = "flarecast.io/image-config"
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
	// InputsDigest is the inputs digest the controller computed with its key (see
	// Inputs.Digest), recorded in the archive's config. A build cannot compute it when the
	// inputs hold Secret content: the key never leaves the manager.
	InputsDigest digest.Digest `json:"inputsDigest,omitempty"`
	// Limits bound what the build may fetch, for how long and how much; they are not inputs
	// (the same archive comes out whatever they are, or none does).
	Limits Limits `json:"limits,omitempty"`
	// DockerConfig is a docker config.json with the credentials of an image's registry (from
	// the FlashArchive's pull Secret). Credentials are not inputs: they change what may be
	// read, not what it is.
	DockerConfig []byte `json:"dockerConfig,omitempty"`
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
	Image        *Image  `json:"image,omitempty"`
	Build        *Master `json:"build,omitempty"`
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

// Image is an OCI image to flatten: a registry reference (host/repository:tag or @digest),
// oci:DIR or oci-archive:FILE (local paths, allowed like file:// sources). A tag is resolved
// when the build runs, so only a reference by digest builds the same archive again whatever
// the registry says later; the digest it resolved to is recorded either way.
type Image struct {
	Ref string `json:"ref"`
}

// File is a file with its content (base64 in JSON).
type File struct {
	Path string `json:"path"`
	Mode uint32 `json:"mode"`
	Data []byte `json:"data"`
	// FromSecret marks content read from a Secret: the inputs digest covers a keyed MAC of
	// it, never the bytes, so a digest that anyone may read cannot be tested against guesses.
	FromSecret bool `json:"fromSecret,omitempty"`
	// MAC stands for Data in the JSON the inputs digest hashes; never set in a request.
	MAC string `json:"mac,omitempty"`
}

// Script is an install script with its content.
type Script struct {
	Name  string        `json:"name"`
	Stage archive.Stage `json:"stage"`
	Order int           `json:"order"`
	Data  []byte        `json:"data"`
	// FromSecret and MAC: as File's.
	FromSecret bool   `json:"fromSecret,omitempty"`
	MAC        string `json:"mac,omitempty"`
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
// fields in order, the descriptor normalized by its maker), where the content of every file
// and script read from a Secret is replaced by its HMAC-SHA256 under key. Inputs without
// Secret content digest to the same value whatever the key. With the key kept by the
// manager alone, the digest still changes exactly when the content does, but reveals nothing
// of it: a plain hash of a low-entropy Secret falls to a dictionary in seconds.
func (in *Inputs) Digest(key []byte) digest.Digest {
	sealed := *in
	if c := in.Configuration; c != nil {
		cc := *c
		cc.Files, cc.Scripts = sealFiles(c.Files, key), sealScripts(c.Scripts, key)
		sealed.Configuration = &cc
	}
	if c := in.Cluster; c != nil {
		cc := *c
		cc.Files = sealFiles(c.Files, key)
		sealed.Cluster = &cc
	}
	b, _ := json.Marshal(&sealed) // plain structs, strings and bytes: cannot fail
	return digest.FromBytes(b)
}

// HasSecretContent reports whether any file or script came from a Secret.
func (in *Inputs) HasSecretContent() bool {
	var files []File
	if c := in.Configuration; c != nil {
		files = append(files, c.Files...)
		for _, s := range c.Scripts {
			if s.FromSecret {
				return true
			}
		}
	}
	if c := in.Cluster; c != nil {
		files = append(files, c.Files...)
	}
	for _, f := range files {
		if f.FromSecret {
			return true
		}
	}
	return false
}

// mac is the keyed MAC that stands for Secret content in the inputs digest.
func mac(key, data []byte) string {
	h := hmac.New(sha256.New, key)
	h.Write(data)
	return "hmac-sha256:" + hex.EncodeToString(h.Sum(nil))
}

func sealFiles(in []File, key []byte) []File {
	out := append([]File(nil), in...)
	for i := range out {
		if out[i].FromSecret {
			out[i].MAC, out[i].Data = mac(key, out[i].Data), nil
		}
	}
	return out
}

func sealScripts(in []Script, key []byte) []Script {
	out := append([]Script(nil), in...)
	for i := range out {
		if out[i].FromSecret {
			out[i].MAC, out[i].Data = mac(key, out[i].Data), nil
		}
	}
	return out
}

// inputsDigest is the digest the build records: the controller's, or, for a request made by
// hand without Secret content, the one computed here.
func (r *Request) inputsDigest() (digest.Digest, error) {
	if r.InputsDigest != "" {
		if err := r.InputsDigest.Validate(); err != nil {
			return "", fmt.Errorf("build request for %s: inputsDigest %q: %w", r.Archive, r.InputsDigest, err)
		}
		return r.InputsDigest, nil
	}
	if r.Inputs.HasSecretContent() {
		return "", fmt.Errorf("build request for %s: the inputs hold Secret content, so the request must carry its inputsDigest (the manager computes it with a key a build never sees)", r.Archive)
	}
	return r.Inputs.Digest(nil), nil
}

// Validate checks that the request says what to build, from what, and where.
func (r *Request) Validate() error {
	if r.Repository == "" || r.Tag == "" {
		return fmt.Errorf("build request for %s: repository and tag are required", r.Archive)
	}
	in := &r.Inputs
	switch in.Type {
	case archive.Generic:
		if btoi(in.Rootfs != nil)+btoi(in.Image != nil)+btoi(in.Build != nil) != 1 || in.Arch == "" {
			return fmt.Errorf("build request for %s: a Generic archive needs an arch and one source, a rootfs, an image or a build", r.Archive)
		}
		if in.Build != nil {
			if err := in.Build.validate(); err != nil {
				return fmt.Errorf("build request for %s: %w", r.Archive, err)
			}
		}
		if in.Rootfs != nil {
			if err := in.Rootfs.Digest.Validate(); err != nil {
				return fmt.Errorf("build request for %s: rootfs digest %q: %w", r.Archive, in.Rootfs.Digest, err)
			}
		}
		if in.Image != nil && in.Image.Ref == "" {
			return fmt.Errorf("build request for %s: an image source needs a reference", r.Archive)
		}
	case archive.Configured, archive.Deployable:
		if err := in.Base.Validate(); err != nil {
			return fmt.Errorf("build request for %s: base digest %q: %w", r.Archive, in.Base, err)
		}
	default:
		return fmt.Errorf("build request for %s: unknown type %q", r.Archive, in.Type)
	}
	if _, err := r.inputsDigest(); err != nil {
		return err
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
