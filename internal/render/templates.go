package render

import (
	"bytes"
	"fmt"
	"path"
	"slices"
	"text/template"

	"github.com/flarecast/flarecast/internal/archive"
)

// Template is one foundation-service configuration file to render.
type Template struct {
	// Service names the foundation service the template belongs to, for messages.
	Service string
	// Path is where the rendered file lands on the node.
	Path string
	Mode uint32
	// Text is the Go text/template.
	Text string
}

// Files renders the templates with data, in the order given. A template that names a field
// the data lacks is an error (missingkey=error), so a typo never becomes an empty line in a
// node's configuration. Two templates that land on one path are an error naming both
// services: the archive would refuse the second file, without saying where it came from.
func Files(templates []Template, data Data) ([]archive.File, error) {
	var out []archive.File
	owner := map[string]string{}
	for _, t := range templates {
		if s, ok := owner[t.Path]; ok {
			return nil, fmt.Errorf("foundation services %s and %s both have a template for %s: a node running both gets one file per path; move one of them", s, t.Service, t.Path)
		}
		owner[t.Path] = t.Service
		tpl, err := template.New(path.Base(t.Path)).Option("missingkey=error").Parse(t.Text)
		if err != nil {
			return nil, fmt.Errorf("foundation service %s: template %s: %w", t.Service, t.Path, err)
		}
		var b bytes.Buffer
		if err := tpl.Execute(&b, data); err != nil {
			return nil, fmt.Errorf("foundation service %s: render %s: %w", t.Service, t.Path, err)
		}
		out = append(out, archive.File{Path: t.Path, Mode: t.Mode, Data: b.Bytes()})
	}
	slices.SortFunc(out, func(a, b archive.File) int {
		switch {
		case a.Path < b.Path:
			return -1
		case a.Path > b.Path:
			return 1
		}
		return 0
	})
	return out, nil
}
