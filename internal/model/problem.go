package model

import "fmt"

// Problem is one thing wrong with, or missing from, the model, on one object.
type Problem struct {
	// Kind and Name are the object the problem is fixed on.
	Kind string
	Name string
	// Field is the field path, list entries by key: "spec.nodes[n3].drawer".
	Field string
	// Node is the node concerned, if any.
	Node string
	// Reason names the rule broken, one of the Reason constants: what a condition's Reason
	// becomes when this is the only kind of problem on its object.
	Reason Reason
	// Message is one sentence a person can act on: what is wrong, then what to change.
	Message string
}

// String renders "NodesGroup/workers: spec.nodes[n3].drawer: drawer shelf0/d3 has no NIC …".
func (p Problem) String() string {
	if p.Field == "" {
		return fmt.Sprintf("%s/%s: %s", p.Kind, p.Name, p.Message)
	}
	return fmt.Sprintf("%s/%s: %s: %s", p.Kind, p.Name, p.Field, p.Message)
}

func (p Problem) less(q Problem) bool {
	switch {
	case p.Kind != q.Kind:
		return p.Kind < q.Kind
	case p.Name != q.Name:
		return p.Name < q.Name
	case p.Field != q.Field:
		return p.Field < q.Field
	case p.Node != q.Node:
		return p.Node < q.Node
	case p.Message != q.Message:
		return p.Message < q.Message
	}
	return p.Reason < q.Reason
}

// problems collects problems about one object.
type problems struct {
	kind, name string
	list       []Problem
}

// add records a problem; reason is required so that no problem leaves without its rule.
func (ps *problems) add(reason Reason, field, node, format string, args ...any) {
	ps.list = append(ps.list, Problem{Kind: ps.kind, Name: ps.name, Field: field, Node: node, Reason: reason, Message: fmt.Sprintf(format, args...)})
}
