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

// MaxDocument bounds one YAML document, as the API server bounds a request body (3 MiB): a
// document the server could never take is refused as soon as it passes the bound, so a
// stream without end (/dev/zero) or a single huge document costs at most this much memory.
const MaxDocument = 3 << 20

// Decode reads every document of r. It returns the objects it could decode and one Error per
// document it could not; empty documents are skipped. A document larger than MaxDocument
// ends the reading of r: where the next one starts cannot be known without reading it all.
func Decode(file string, r io.Reader) ([]Object, []error) {
	reader := &documentReader{r: bufio.NewReaderSize(r, 64<<10), max: MaxDocument}
	var objs []Object
	var errs []error
	for doc := 1; ; doc++ {
		raw, err := reader.next()
		if errors.Is(err, io.EOF) {
			return objs, errs
		}
		if errors.Is(err, errDocumentTooLarge) {
			return objs, append(errs, &Error{File: file, Doc: doc, Err: fmt.Errorf("the document is larger than %d MiB, the most the API server takes in one request: split it into several documents; the rest of the file is not read", MaxDocument>>20)})
		}
		if err != nil {
			return objs, append(errs, &Error{File: file, Doc: doc, Err: fmt.Errorf("read: %w", err)})
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

var errDocumentTooLarge = errors.New("document too large")

// documentReader splits a YAML stream into documents at "---" lines, as kubectl's reader
// (k8s.io/apimachinery/pkg/util/yaml.YAMLReader) does, but counts the bytes of a document as
// it reads them and gives up past max, where that reader would hold any amount.
type documentReader struct {
	r   *bufio.Reader
	max int
}

func (d *documentReader) next() ([]byte, error) {
	var doc []byte
	for {
		start := len(doc)
		var err error
		doc, err = d.line(doc)
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		if line := doc[start:]; len(line) > 0 {
			// Lines end in "\n" whatever the file used, as bufio.Reader.ReadLine gives them.
			line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
			doc = append(doc[:start+len(line)], '\n')
			if rest, ok := bytes.CutPrefix(line, []byte("---")); ok {
				if t := bytes.TrimSpace(rest); len(t) > 0 && t[0] != '#' {
					return nil, fmt.Errorf("invalid YAML document separator: %s", clip(t))
				}
				if start > 0 {
					return doc[:start], nil
				}
			}
		}
		if errors.Is(err, io.EOF) {
			if len(doc) > 0 {
				return doc, nil
			}
			return nil, io.EOF
		}
	}
}

// line appends one line, with its end, to doc, failing once doc would pass the bound.
func (d *documentReader) line(doc []byte) ([]byte, error) {
	for {
		chunk, err := d.r.ReadSlice('\n')
		if len(doc)+len(chunk) > d.max {
			return nil, errDocumentTooLarge
		}
		doc = append(doc, chunk...)
		if !errors.Is(err, bufio.ErrBufferFull) {
			return doc, err
		}
	}
}

// clip shortens what an error quotes from the input.
func clip(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "…"
	}
	return string(b)
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
