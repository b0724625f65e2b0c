package crdvalidate

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Explain renders an error of Admit as the model renders its problems, "field.path: what is
// wrong: what to do": the server's field path with each entry of a keyed list named by its key
// (spec.shelves[shelf0], where the server says spec.shelves[0]), extended by the path a CEL
// rule's message starts with (a rule on a shelf says drawers[d2].boards[b0]…), and the message
// without the type name CEL puts where a value would be. obj is the object given to Admit.
func (v *Validator) Explain(obj map[string]any, err *field.Error) (path, message string) {
	path, message = err.Field, err.ErrorBody()
	var s *structuralschema.Structural
	apiVersion, _ := obj["apiVersion"].(string)
	kindName, _ := obj["kind"].(string)
	if gv, perr := schema.ParseGroupVersion(apiVersion); perr == nil {
		if k, ok := v.kinds[gv.WithKind(kindName)]; ok {
			s = k.structural
			path = keyedPath(obj, s, err.Field)
		}
	}
	if err.Type != field.ErrorTypeInvalid {
		return path, message
	}
	switch bad := err.BadValue.(type) {
	case field.OmitValueType, nil:
	case string:
		switch bad {
		case "object", "array", "string", "integer", "number", "boolean":
		default:
			// A rule on a string field: the server puts the value first; a message that
			// names the value itself says it better.
			if bad == "" || !strings.Contains(err.Detail, bad) {
				return path, message
			}
		}
	default:
		return path, message
	}
	// A CEL rule (or a message of this package): its message is the whole of what is said.
	message = err.Detail
	if m := leadingPath.FindStringSubmatch(message); m != nil {
		path, message = joinPath(path, m[1]), message[len(m[0]):]
	}
	return path, message
}

// leadingPath is the field path a rule on an object starts its message with, relative to that
// object: "drawers[d2].boards[b0].nics[eth0].link.port: …", "role: …". A sentence has a space
// before its first colon, a path none.
var leadingPath = regexp.MustCompile(`^([a-zA-Z][a-zA-Z0-9]*(?:\[[^\]\s]*\])*(?:\.[a-zA-Z][a-zA-Z0-9]*(?:\[[^\]\s]*\])*)*): `)

func joinPath(base, rel string) string {
	if base == "" || base == "<nil>" {
		return rel
	}
	return base + "." + rel
}

// pathToken is one step of a field path: a field name, or a list index in brackets.
var pathToken = regexp.MustCompile(`([^.\[\]]+)|\[([^\]]*)\]`)

// keyedPath rewrites the list indexes of a field path into the keys of their entries, for the
// lists that have keys (x-kubernetes-list-type: map): several keys are joined by commas, in the
// order the schema lists them (spec.addresses[w4,internal]). A step it cannot follow in the
// object or the schema leaves the rest of the path as the server gave it.
func keyedPath(obj map[string]any, s *structuralschema.Structural, path string) string {
	var out strings.Builder
	var cur any = obj
	tokens := pathToken.FindAllStringSubmatchIndex(path, -1)
	for i, t := range tokens {
		rest := func() string { return path[t[0]:] }
		if t[2] >= 0 { // a field
			name := path[t[2]:t[3]]
			if i > 0 {
				out.WriteByte('.')
			}
			out.WriteString(name)
			m, ok := cur.(map[string]any)
			if s == nil || !ok {
				s = nil
				cur = nil
				continue
			}
			cur = m[name]
			if p, ok := s.Properties[name]; ok {
				s = &p
			} else {
				s = nil
			}
			continue
		}
		index := path[t[4]:t[5]]
		list, ok := cur.([]any)
		n, err := strconv.Atoi(index)
		if s == nil || !ok || err != nil || n < 0 || n >= len(list) {
			out.WriteString(rest())
			return out.String()
		}
		cur = list[n]
		key := index
		if s.Extensions.XListType != nil && *s.Extensions.XListType == "map" {
			if entry, ok := cur.(map[string]any); ok {
				var keys []string
				for _, k := range s.Extensions.XListMapKeys {
					keys = append(keys, fmt.Sprint(entry[k]))
				}
				key = strings.Join(keys, ",")
			}
		}
		fmt.Fprintf(&out, "[%s]", key)
		s = s.Items
	}
	return out.String()
}
