package check

import (
	"fmt"
	"sort"

	"github.com/flarecast/flarecast/internal/model"
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
	File  string `json:"file"`
	Kind  string `json:"kind,omitempty"`
	Name  string `json:"name,omitempty"`
	Field string `json:"field,omitempty"`
	Node  string `json:"node,omitempty"`
	// Reason names the rule: the model's (model.Reason), or one of this package's for what
	// admission finds, so a script can select findings without matching messages.
	Reason   model.Reason `json:"reason,omitempty"`
	Message  string       `json:"message"`
	Severity Severity     `json:"severity"`
}

// Reasons of the findings that admission, not the model, makes.
const (
	// ReasonRejected: the API server would refuse the object (schema, list keys, CEL).
	ReasonRejected model.Reason = "Rejected"
	// ReasonDuplicateObject: the same kind, namespace and name is given twice.
	ReasonDuplicateObject model.Reason = "DuplicateObject"
	// ReasonUnknownKind: the object is of the flarecast group but no kind the server serves.
	ReasonUnknownKind model.Reason = "UnknownKind"
	// ReasonUnreadable: admitted, but not convertible to its Go type.
	ReasonUnreadable model.Reason = "Unreadable"
	// ReasonClusterNotChecked: a group's Cluster is not in the manifests, so only the group's
	// own rules were checked.
	ReasonClusterNotChecked model.Reason = "ClusterNotChecked"
	// ReasonArchiveNotChecked: the FlashArchive a group runs, or a derived archive's base, is
	// not in the manifests, so the rules between them were not checked.
	ReasonArchiveNotChecked model.Reason = "ArchiveNotChecked"
)

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
