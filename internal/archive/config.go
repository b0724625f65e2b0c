package archive

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"
)

// ConfigSchemaVersion is the version of the config blob's JSON; it moves with MediaTypeConfig.
const ConfigSchemaVersion = 1

// maxConfigSize bounds what DecodeConfig accepts: a config is identification, not data.
const maxConfigSize = 4 << 20

// Config is the config blob of an archive: its identification. Its JSON encoding is canonical
// (struct field order, sorted map keys, no indentation), so the same inputs give the same digest.
type Config struct {
	SchemaVersion int    `json:"schemaVersion"`
	Name          string `json:"name"`
	Type          Type   `json:"type"`
	Architecture  string `json:"architecture"`
	OS            string `json:"os"`
	// Created comes from SOURCE_DATE_EPOCH, never from the clock; absent when not given.
	Created *time.Time `json:"created,omitempty"`
	// Inputs are what the caller says this archive was made from (source image digest, build
	// recipe digest…), recorded for reproducibility; flarecast does not interpret them.
	Inputs map[string]string `json:"inputs,omitempty"`
	// Lineage lists the manifests this archive was derived from, the generic first and the
	// direct base last. Empty for a generic archive.
	Lineage []digest.Digest `json:"lineage,omitempty"`
	// FlarecastVersion is the version of the flarecast that wrote this config.
	FlarecastVersion string `json:"flarecastVersion"`
	// DiffIDs maps each section name to the sha256 of its uncompressed tar, so Verify can check
	// the content and not only the compressed bytes.
	DiffIDs map[string]digest.Digest `json:"diffIDs"`
	// TarSizes maps each section name to the size in bytes of its uncompressed tar. Extract,
	// Verify and Import stop reading a section there, so a section that expands without end
	// (a zstd or sparse bomb in a hostile archive) is refused instead of read for ever.
	TarSizes map[string]int64 `json:"tarSizes"`
	// NodesGroup is the group a deployable archive is made for.
	NodesGroup string `json:"nodesGroup,omitempty"`
	// SoftwareLoad is the software-load descriptor of a deployable archive.
	SoftwareLoad *SoftwareLoadDescriptor `json:"softwareLoad,omitempty"`
}

// EncodeConfig returns the canonical bytes of a config after validating it.
func EncodeConfig(c *Config) ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return json.Marshal(c)
}

// DecodeConfig parses and validates a config blob. It accepts fields it does not know (a later
// v1 writer may add optional ones) but refuses a config that breaks a rule of the format.
func DecodeConfig(b []byte) (*Config, error) {
	if len(b) > maxConfigSize {
		return nil, fmt.Errorf("decode archive config: %d bytes is more than the %d a config may have", len(b), maxConfigSize)
	}
	var c Config
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("decode archive config: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("decode archive config: data after the JSON object")
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("decode archive config: %w", err)
	}
	return &c, nil
}

// Validate checks the rules of the format that a config alone can show.
func (c *Config) Validate() error {
	if c.SchemaVersion != ConfigSchemaVersion {
		return fmt.Errorf("config schemaVersion %d, this flarecast reads %d", c.SchemaVersion, ConfigSchemaVersion)
	}
	if c.Name == "" {
		return fmt.Errorf("config has no name")
	}
	if !c.Type.valid() {
		return fmt.Errorf("archive %s: unknown type %q", c.Name, c.Type)
	}
	for _, d := range c.Lineage {
		if err := d.Validate(); err != nil {
			return fmt.Errorf("archive %s: lineage digest %q: %w", c.Name, d, err)
		}
	}
	if c.Type == Generic && len(c.Lineage) != 0 {
		return fmt.Errorf("archive %s: a generic archive is not derived from another, yet lineage has %d entries", c.Name, len(c.Lineage))
	}
	if c.Type != Generic && len(c.Lineage) == 0 {
		return fmt.Errorf("archive %s: a %s archive must name the archive it was derived from (lineage is empty)", c.Name, c.Type)
	}
	if _, ok := c.DiffIDs[SectionArchive]; !ok {
		return fmt.Errorf("archive %s: no diffID for the %s section", c.Name, SectionArchive)
	}
	for name, d := range c.DiffIDs {
		if mediaTypeForSection(name) == "" {
			return fmt.Errorf("archive %s: diffID for unknown section %q", c.Name, name)
		}
		if err := d.Validate(); err != nil {
			return fmt.Errorf("archive %s: diffID of section %s: %w", c.Name, name, err)
		}
	}
	_, hasConf := c.DiffIDs[SectionConfiguration]
	_, hasCluster := c.DiffIDs[SectionCluster]
	if c.Type == Generic && hasConf {
		return fmt.Errorf("archive %s: a generic archive has no configuration section", c.Name)
	}
	if c.Type != Deployable && hasCluster {
		return fmt.Errorf("archive %s: only a deployable archive has a cluster section", c.Name)
	}
	if c.Type != Deployable && (c.SoftwareLoad != nil || c.NodesGroup != "") {
		return fmt.Errorf("archive %s: only a deployable archive has a software-load descriptor", c.Name)
	}
	if c.Type == Deployable {
		if c.SoftwareLoad == nil || !hasCluster || c.NodesGroup == "" {
			return fmt.Errorf("archive %s: a deployable archive needs a cluster section, a nodes group and a software-load descriptor", c.Name)
		}
		if err := c.SoftwareLoad.Validate(); err != nil {
			return fmt.Errorf("archive %s: %w", c.Name, err)
		}
		if c.SoftwareLoad.Group(c.NodesGroup) == nil {
			return fmt.Errorf("archive %s: nodes group %s is not in the software-load descriptor of cluster %s", c.Name, c.NodesGroup, c.SoftwareLoad.Cluster)
		}
	}
	if len(c.TarSizes) != len(c.DiffIDs) {
		return fmt.Errorf("archive %s: tarSizes has %d sections, diffIDs %d: every section needs both", c.Name, len(c.TarSizes), len(c.DiffIDs))
	}
	for name, n := range c.TarSizes {
		if _, ok := c.DiffIDs[name]; !ok {
			return fmt.Errorf("archive %s: tarSizes names section %q, which has no diffID", c.Name, name)
		}
		// A tar is at least its two zero end blocks.
		if n < 1024 {
			return fmt.Errorf("archive %s: tar size of section %s is %d bytes, less than an empty tar", c.Name, name, n)
		}
	}
	return nil
}
