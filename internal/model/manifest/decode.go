package manifest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// Object is one decoded object.
type Object struct {
	// File is where it was read from ("-" for standard input), Doc the document's position
	// in the file, from 1.
	File string
	Doc  int
	// Object is the content, as the server decodes it.
	Object map[string]any
}

// GVK returns the object's group, version and kind.
func (o Object) GVK() schema.GroupVersionKind {
	apiVersion, _ := o.Object["apiVersion"].(string)
	kind, _ := o.Object["kind"].(string)
	return schema.FromAPIVersionAndKind(apiVersion, kind)
}

// Name returns metadata.name, or "".
func (o Object) Name() string { return o.meta("name") }

// Namespace returns metadata.namespace, or "".
func (o Object) Namespace() string { return o.meta("namespace") }

func (o Object) meta(key string) string {
	m, _ := o.Object["metadata"].(map[string]any)
	s, _ := m[key].(string)
	return s
}

// Error is a document that could not be decoded.
type Error struct {
	File string
	Doc  int
	Err  error
}

func (e *Error) Error() string {
	if e.Doc == 0 {
		return fmt.Sprintf("%s: %v", e.File, e.Err)
	}
	return fmt.Sprintf("%s: document %d: %v", e.File, e.Doc, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// maxDocument bounds one YAML document, as the API server bounds a request body.
const maxDocument = 3 << 20

// Decode reads every document of r. It returns the objects it could decode and one Error per
// document it could not; empty documents are skipped.
func Decode(file string, r io.Reader) ([]Object, []error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReaderSize(r, 64<<10))
	var objs []Object
	var errs []error
	for doc := 1; ; doc++ {
		raw, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return objs, errs
		}
		if err != nil {
			return objs, append(errs, &Error{File: file, Doc: doc, Err: fmt.Errorf("read: %w", err)})
		}
		if len(raw) > maxDocument {
			errs = append(errs, &Error{File: file, Doc: doc, Err: fmt.Errorf("document is larger than %d bytes", maxDocument)})
			continue
		}
		got, err := decodeDocument(raw)
		if err != nil {
			errs = append(errs, &Error{File: file, Doc: doc, Err: err})
			continue
		}
		for _, o := range got {
			objs = append(objs, Object{File: file, Doc: doc, Object: o})
		}
	}
}

// decodeDocument decodes one document: nothing for an empty one, the items of a List.
func decodeDocument(raw []byte) ([]map[string]any, error) {
	if len(bytes.TrimSpace(stripComments(raw))) == 0 {
		return nil, nil
	}
	// Strict: a key given twice is an error, as kubectl's strict field validation makes it.
	data, err := yaml.YAMLToJSONStrict(raw)
	if err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if string(bytes.TrimSpace(data)) == "null" {
		return nil, nil
	}
	var obj map[string]any
	if err := json.Unmarshal(data, &obj); err != nil {
		return nil, fmt.Errorf("decode: a manifest is a mapping with apiVersion, kind and metadata: %w", err)
	}
	if obj == nil {
		return nil, nil
	}
	if err := typed(obj); err != nil {
		return nil, err
	}
	kind := obj["kind"].(string)
	items, isList := obj["items"]
	if !isList || !strings.HasSuffix(kind, "List") {
		return []map[string]any{obj}, nil
	}
	list, ok := items.([]any)
	if !ok {
		return nil, fmt.Errorf("%s: items must be a list", kind)
	}
	var out []map[string]any
	for i, it := range list {
		o, ok := it.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: items[%d] is not an object", kind, i)
		}
		if err := typed(o); err != nil {
			return nil, fmt.Errorf("%s: items[%d]: %w", kind, i, err)
		}
		out = append(out, o)
	}
	return out, nil
}

// typed checks that an object says what it is.
func typed(obj map[string]any) error {
	apiVersion, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	switch {
	case apiVersion == "":
		return errors.New("apiVersion is missing or not a string")
	case kind == "":
		return errors.New("kind is missing or not a string")
	}
	if _, err := schema.ParseGroupVersion(apiVersion); err != nil {
		return fmt.Errorf("apiVersion %q: %w", apiVersion, err)
	}
	if m, ok := obj["metadata"]; ok {
		if _, ok := m.(map[string]any); !ok {
			return errors.New("metadata must be a mapping")
		}
	}
	return nil
}

// stripComments drops comment lines, so that a document of comments only is empty.
func stripComments(raw []byte) []byte {
	var out []byte
	for _, line := range bytes.Split(raw, []byte("\n")) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] == '#' {
			continue
		}
		out = append(out, line...)
		out = append(out, '\n')
	}
	return out
}
