package check

import (
	"fmt"
	"sort"
)

// Severity says what a finding does to the verdict.
type Severity string

const (
	// SeverityError is a broken rule or an object the server would reject.
	SeverityError Severity = "error"
	// SeverityWarning is doubtful but allowed.
	SeverityWarning Severity = "warning"
	// SeverityMissing is what a partial model lacks.
	SeverityMissing Severity = "missing"
)

// Finding is one line of the report.
type Finding struct {
	File     string   `json:"file"`
	Kind     string   `json:"kind,omitempty"`
	Name     string   `json:"name,omitempty"`
	Field    string   `json:"field,omitempty"`
	Node     string   `json:"node,omitempty"`
	Message  string   `json:"message"`
	Severity Severity `json:"severity"`
}

// String renders "file: Kind/name: field: message"; warnings and missing parts say so before
// the message.
func (f Finding) String() string {
	s := f.File + ": "
	if f.Kind != "" {
		s += fmt.Sprintf("%s/%s: ", f.Kind, f.Name)
	}
	if f.Field != "" {
		s += f.Field + ": "
	}
	if f.Severity != SeverityError {
		s += string(f.Severity) + ": "
	}
	return s + f.Message
}

func sortFindings(fs []Finding) []Finding {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		switch {
		case a.File != b.File:
			return a.File < b.File
		case a.Kind != b.Kind:
			return a.Kind < b.Kind
		case a.Name != b.Name:
			return a.Name < b.Name
		case a.Severity != b.Severity:
			return a.Severity < b.Severity
		case a.Field != b.Field:
			return a.Field < b.Field
		case a.Node != b.Node:
			return a.Node < b.Node
		}
		return a.Message < b.Message
	})
	out := fs[:0]
	for i, f := range fs {
		if i > 0 && f == fs[i-1] {
			continue
		}
		out = append(out, f)
	}
	return out
}
