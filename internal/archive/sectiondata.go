package archive

import (
	"cmp"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"
)

// SectionManifestSchemaVersion versions configuration.json and cluster.json.
const SectionManifestSchemaVersion = 1

// ConfigurationManifest is configuration.json, the table of contents of the configuration
// section that the agent follows: which files were placed, which scripts run, in what order.
type ConfigurationManifest struct {
	SchemaVersion int    `json:"schemaVersion"`
	DoubleReboot  bool   `json:"doubleReboot"`
	Files         []File `json:"files"`
	// Scripts are in run order: by stage (FirstBoot, BeforeServices, AfterServices), then by
	// order, then by name.
	Scripts []ScriptEntry `json:"scripts"`
}

// ScriptEntry is a script as configuration.json lists it, with where it lies on the node.
type ScriptEntry struct {
	Name  string `json:"name"`
	Order int    `json:"order"`
	Stage Stage  `json:"stage"`
	Path  string `json:"path"`
}

// ClusterManifest is cluster.json: the node table and the files of the cluster section.
type ClusterManifest struct {
	SchemaVersion int    `json:"schemaVersion"`
	Nodes         []Node `json:"nodes"`
	Files         []File `json:"files"`
}

// sectionFile is one regular file of a section tar, at a path relative to the node's root.
type sectionFile struct {
	name string
	mode int64
	data []byte
}

func fileMode(m uint32) int64 {
	if m == 0 {
		return 0o644
	}
	return int64(m)
}

func sortedFiles(files []File) []File {
	out := slices.Clone(files)
	slices.SortFunc(out, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	for i := range out {
		out[i].Mode = uint32(fileMode(out[i].Mode))
	}
	return out
}

func jsonFile(name string, v any) (sectionFile, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return sectionFile{}, fmt.Errorf("encode %s: %w", name, err)
	}
	return sectionFile{name: name, mode: 0o644, data: append(b, '\n')}, nil
}

// configurationFiles lays out the configuration section as it lands on the node: the user
// files at their own paths, the scripts and configuration.json under ConfigurationDir.
func configurationFiles(c *Configuration) ([]sectionFile, error) {
	scripts := slices.Clone(c.Scripts)
	slices.SortFunc(scripts, func(a, b Script) int {
		return cmp.Or(cmp.Compare(stageRank(a.Stage), stageRank(b.Stage)), cmp.Compare(a.Order, b.Order), strings.Compare(a.Name, b.Name))
	})
	m := ConfigurationManifest{SchemaVersion: SectionManifestSchemaVersion, DoubleReboot: c.DoubleReboot, Files: sortedFiles(c.Files), Scripts: []ScriptEntry{}}
	var out []sectionFile
	for _, s := range scripts {
		p := path.Join(ConfigurationDir, "scripts", s.Name)
		m.Scripts = append(m.Scripts, ScriptEntry{Name: s.Name, Order: s.Order, Stage: s.Stage, Path: p})
		out = append(out, sectionFile{name: p[1:], mode: 0o755, data: s.Data})
	}
	for _, f := range c.Files {
		out = append(out, sectionFile{name: f.Path[1:], mode: fileMode(f.Mode), data: f.Data})
	}
	if m.Files == nil {
		m.Files = []File{}
	}
	j, err := jsonFile(path.Join(ConfigurationDir, "configuration.json")[1:], m)
	if err != nil {
		return nil, err
	}
	return append(out, j), nil
}

// clusterFiles lays out the cluster section: the rendered files at their paths, cluster.json
// and software-load.json (the descriptor, for scripts on the node) under ClusterDir.
func clusterFiles(c *ClusterSection, load *SoftwareLoadDescriptor) ([]sectionFile, error) {
	nodes := slices.Clone(c.Nodes)
	slices.SortFunc(nodes, func(a, b Node) int { return cmp.Compare(a.ID, b.ID) })
	if nodes == nil {
		nodes = []Node{}
	}
	m := ClusterManifest{SchemaVersion: SectionManifestSchemaVersion, Nodes: nodes, Files: sortedFiles(c.Files)}
	if m.Files == nil {
		m.Files = []File{}
	}
	var out []sectionFile
	for _, f := range c.Files {
		out = append(out, sectionFile{name: f.Path[1:], mode: fileMode(f.Mode), data: f.Data})
	}
	j, err := jsonFile(path.Join(ClusterDir, "cluster.json")[1:], m)
	if err != nil {
		return nil, err
	}
	l, err := jsonFile(path.Join(ClusterDir, "software-load.json")[1:], load)
	if err != nil {
		return nil, err
	}
	return append(out, j, l), nil
}
