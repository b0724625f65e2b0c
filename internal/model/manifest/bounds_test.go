package manifest

import (
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
)

// endless yields the same byte, like /dev/zero, and counts what was read. It gives up after
// giveUp bytes so that a reader that does not bound itself fails the test rather than hang it.
type endless struct {
	b      byte
	n      int64
	giveUp int64
}

func (e *endless) Read(p []byte) (int, error) {
	if e.n >= e.giveUp {
		return 0, errors.New("the test's reader gave up: nothing stopped reading")
	}
	for i := range p {
		p[i] = e.b
	}
	e.n += int64(len(p))
	return len(p), nil
}

// slack is what a reader may read past a document's bound: its buffer.
const slack = 128 << 10

// A stream without end, or a single document past the bound, is refused as soon as it passes
// MaxDocument, with a message that names the bound, and memory stays bounded too.
func TestDecodeStopsAtTheDocumentBound(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    func() (io.Reader, *endless)
	}{
		{"zeros without a newline (/dev/zero)", func() (io.Reader, *endless) {
			e := &endless{b: 0, giveUp: 64 << 20}
			return e, e
		}},
		{"newlines without end", func() (io.Reader, *endless) {
			e := &endless{b: '\n', giveUp: 64 << 20}
			return e, e
		}},
		{"one huge document after a good one", func() (io.Reader, *endless) {
			e := &endless{b: 'x', giveUp: 64 << 20}
			return io.MultiReader(strings.NewReader("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\ndata: {big: "), e), e
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, e := tc.r()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			objs, errs := Decode("big.yaml", r)
			runtime.ReadMemStats(&after)
			if len(errs) != 1 || !strings.Contains(errs[0].Error(), "larger than 3 MiB") {
				t.Fatalf("errors %v, want one saying the document is larger than 3 MiB", errs)
			}
			if e.n > MaxDocument+slack {
				t.Errorf("read %d bytes, want at most %d: the bound is applied as the document is read", e.n, MaxDocument+slack)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8*MaxDocument {
				t.Errorf("allocated %d MiB for a document refused at %d MiB", alloc>>20, MaxDocument>>20)
			}
			if tc.name == "one huge document after a good one" && len(objs) != 1 {
				t.Errorf("got %d objects, want the document before the huge one", len(objs))
			}
		})
	}
}

// A document just under the bound is read whole.
func TestDecodeTakesADocumentUnderTheBound(t *testing.T) {
	big := strings.Repeat("x", MaxDocument-200)
	objs, errs := Decode("big.yaml", strings.NewReader("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {big: "+big+"}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n"))
	if len(errs) != 0 || len(objs) != 2 {
		t.Fatalf("objects %d, errors %v; want both documents", len(objs), errs)
	}
}
