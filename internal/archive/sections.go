package archive

import (
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"
)

// Where the sections put their own metadata in the node's root file system. User files go to
// their own paths; these directories are reserved for flarecast.
const (
	ConfigurationDir = "/var/lib/flarecast/configuration"
	ClusterDir       = "/var/lib/flarecast/cluster"
	reservedDir      = "/var/lib/flarecast"
)

// File is a file a section places in the node's root file system. In configuration.json and
// cluster.json it appears as {"path": "/etc/app.conf", "mode": "0640"}: the mode in octal, as
// a person writes it.
type File struct {
	// Path is absolute and clean; it may not lie under /var/lib/flarecast.
	Path string
	// Mode holds the permission bits (with setuid, setgid, sticky); zero means 0644.
	Mode uint32
	Data []byte
}

type fileJSON struct {
	Path string `json:"path"`
	Mode string `json:"mode"`
}

// MarshalJSON writes the path and the octal mode; the content is in the section's tar.
func (f File) MarshalJSON() ([]byte, error) {
	return json.Marshal(fileJSON{Path: f.Path, Mode: fmt.Sprintf("%04o", f.Mode)})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (f *File) UnmarshalJSON(b []byte) error {
	var j fileJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	m, err := strconv.ParseUint(j.Mode, 8, 32)
	if err != nil {
		return fmt.Errorf("file %s: mode %q is not octal", j.Path, j.Mode)
	}
	*f = File{Path: j.Path, Mode: uint32(m)}
	return nil
}

// Script is an install script the agent runs on the node at its stage, in order.
type Script struct {
	// Name is the script's file name in the section, unique within it.
	Name  string `json:"name"`
	Order int    `json:"order"`
	Stage Stage  `json:"stage"`
	Data  []byte `json:"-"`
}

// Configuration is the user configuration of a nodes group: the content of the configuration
// section of a Configured archive.
type Configuration struct {
	Files   []File
	Scripts []Script
	// DoubleReboot asks the agent to reboot the node once more after the BeforeServices stage.
	DoubleReboot bool
}

// ClusterSection is the cluster-specific content of a Deployable archive, rendered from the
// model by the caller: files (foundation-service configuration, hosts…) and the node table.
type ClusterSection struct {
	Files []File
	Nodes []Node
}

// Node is one row of the node table in the cluster section.
type Node struct {
	Name      string   `json:"name"`
	ID        int      `json:"id"`
	Group     string   `json:"group"`
	Role      string   `json:"role,omitempty"`
	Addresses []string `json:"addresses,omitempty"`
}

// SoftwareLoadDescriptor describes the software load of a cluster: which archive each nodes
// group runs, on which nodes. Every deployable archive of the load carries it in its config.
type SoftwareLoadDescriptor struct {
	Cluster string      `json:"cluster"`
	Domain  int         `json:"domain"`
	Groups  []GroupLoad `json:"groups"`
}

// GroupLoad is the entry of one nodes group in a software-load descriptor.
type GroupLoad struct {
	Name string `json:"name"`
	// Archive is the manifest digest of the generic or configured archive the group's
	// deployable archive is derived from (a deployable cannot name itself).
	Archive digest.Digest `json:"archive"`
	Nodes   []string      `json:"nodes"`
}

// Group returns the entry of the named group, or nil.
func (d *SoftwareLoadDescriptor) Group(name string) *GroupLoad {
	for i := range d.Groups {
		if d.Groups[i].Name == name {
			return &d.Groups[i]
		}
	}
	return nil
}

// Digest is the signature of the descriptor (seed: "signature of the software load
// descriptor"): the sha256 of its JSON encoding, which is canonical once validated.
func (d *SoftwareLoadDescriptor) Digest() digest.Digest {
	b, _ := json.Marshal(d) // plain structs and strings: cannot fail
	return digest.FromBytes(b)
}

// Validate checks what a deployable archive relies on: a cluster name, at least one group, group
// names and node names unique, digests well formed, groups sorted by name.
func (d *SoftwareLoadDescriptor) Validate() error {
	if d.Cluster == "" {
		return fmt.Errorf("software-load descriptor: cluster name is empty")
	}
	if len(d.Groups) == 0 {
		return fmt.Errorf("software-load descriptor of cluster %s: no nodes group", d.Cluster)
	}
	seenNode := map[string]string{}
	for i, g := range d.Groups {
		if g.Name == "" {
			return fmt.Errorf("software-load descriptor: group %d has no name", i)
		}
		if i > 0 && d.Groups[i-1].Name >= g.Name {
			return fmt.Errorf("software-load descriptor: groups must be sorted by name and unique (%q after %q)", g.Name, d.Groups[i-1].Name)
		}
		if err := g.Archive.Validate(); err != nil {
			return fmt.Errorf("software-load descriptor: group %s: archive digest %q: %w", g.Name, g.Archive, err)
		}
		for _, n := range g.Nodes {
			if other, dup := seenNode[n]; dup {
				return fmt.Errorf("software-load descriptor: node %s is in groups %s and %s", n, other, g.Name)
			}
			seenNode[n] = g.Name
		}
	}
	return nil
}

// Normalize sorts groups and their nodes so that the same load always has the same digest.
func (d *SoftwareLoadDescriptor) Normalize() {
	slices.SortFunc(d.Groups, func(a, b GroupLoad) int { return strings.Compare(a.Name, b.Name) })
	for i := range d.Groups {
		d.Groups[i].Nodes = slices.Clone(d.Groups[i].Nodes)
		slices.Sort(d.Groups[i].Nodes)
	}
}

func validateFiles(section string, files []File) error {
	seen := map[string]bool{}
	for _, f := range files {
		if !path.IsAbs(f.Path) || path.Clean(f.Path) != f.Path || f.Path == "/" {
			return fmt.Errorf("%s section: file path %q must be absolute and clean", section, f.Path)
		}
		if f.Path == reservedDir || strings.HasPrefix(f.Path, reservedDir+"/") {
			return fmt.Errorf("%s section: file %s: %s is reserved for flarecast", section, f.Path, reservedDir)
		}
		if f.Mode&^0o7777 != 0 {
			return fmt.Errorf("%s section: file %s: mode %o has bits beyond permissions", section, f.Path, f.Mode)
		}
		if seen[f.Path] {
			return fmt.Errorf("%s section: file %s given twice", section, f.Path)
		}
		seen[f.Path] = true
	}
	// The section's tar needs every ancestor of its files, and of its own metadata under
	// reservedDir, to be a directory when it is applied.
	for _, f := range files {
		for d := path.Dir(f.Path); d != "/"; d = path.Dir(d) {
			if seen[d] {
				return fmt.Errorf("%s section: file %s must be a directory: %s lies below it", section, d, f.Path)
			}
		}
		if strings.HasPrefix(reservedDir, f.Path+"/") {
			return fmt.Errorf("%s section: file %s must be a directory: the section's own files lie below it, in %s", section, f.Path, reservedDir)
		}
	}
	return nil
}

// Validate checks the configuration before it becomes a section.
func (c *Configuration) Validate() error {
	if err := validateFiles(SectionConfiguration, c.Files); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, s := range c.Scripts {
		if s.Name == "" || strings.ContainsAny(s.Name, "/\x00") || s.Name == "." || s.Name == ".." {
			return fmt.Errorf("configuration section: script name %q must be a plain file name", s.Name)
		}
		if seen[s.Name] {
			return fmt.Errorf("configuration section: script %s given twice", s.Name)
		}
		seen[s.Name] = true
		if stageRank(s.Stage) < 0 {
			return fmt.Errorf("configuration section: script %s: unknown stage %q (want FirstBoot, BeforeServices or AfterServices)", s.Name, s.Stage)
		}
		if s.Order < 0 {
			return fmt.Errorf("configuration section: script %s: order %d is negative", s.Name, s.Order)
		}
	}
	return nil
}

// Validate checks the cluster section before it becomes a section.
func (c *ClusterSection) Validate() error {
	if err := validateFiles(SectionCluster, c.Files); err != nil {
		return err
	}
	names, ids := map[string]bool{}, map[int]string{}
	for _, n := range c.Nodes {
		if n.Name == "" {
			return fmt.Errorf("cluster section: a node of group %q has no name", n.Group)
		}
		if names[n.Name] {
			return fmt.Errorf("cluster section: node %s listed twice", n.Name)
		}
		names[n.Name] = true
		if other, dup := ids[n.ID]; dup {
			return fmt.Errorf("cluster section: nodes %s and %s share node id %d", other, n.Name, n.ID)
		}
		ids[n.ID] = n.Name
	}
	return nil
}
