package tarball

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

type streamEntry struct {
	name string
	typ  byte
	body string
	link string
}

func rawTar(t testing.TB, entries []streamEntry) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range entries {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		h := &tar.Header{Name: e.name, Typeflag: typ, Mode: 0o644, Linkname: e.link, Size: int64(len(e.body))}
		if typ != tar.TypeReg {
			h.Size = 0
		}
		if typ == tar.TypeDir {
			h.Mode = 0o755
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write([]byte(e.body))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// packRaw packs data plainly, its spool (when not streamed) in a directory of the test's.
func packRaw(t testing.TB, data []byte, stream bool) ([]byte, Stats, error) {
	var out bytes.Buffer
	st, err := Pack(context.Background(), TarSource(bytes.NewReader(data)), &out, PackOptions{Stream: stream, Compression: Plain,
		SourceDateEpoch: 1700000000, MaxBytes: 64 << 20, TempDir: t.TempDir()})
	return out.Bytes(), st, err
}

// A streamed pack writes exactly the bytes the spooled one does, for streams in canonical
// order and for those a few entries off it (mmdebstrap writes ./dev before ./), hard links
// whichever of their names sorts first, a name given twice, and a file too large to hold.
func TestAStreamedPackGivesTheSpooledBytes(t *testing.T) {
	big := strings.Repeat("x", holdBytes/4+1)
	for name, entries := range map[string][]streamEntry{
		"sorted": {{name: "./", typ: tar.TypeDir}, {name: "./bin/", typ: tar.TypeDir}, {name: "./bin/sh", body: "#!"}, {name: "./etc/", typ: tar.TypeDir}, {name: "./etc/a", body: "a"}},
		"mmdebstrap's ./dev first": {{name: "./dev/", typ: tar.TypeDir}, {name: "./dev/null", typ: tar.TypeChar}, {name: "./", typ: tar.TypeDir},
			{name: "./bin/", typ: tar.TypeDir}, {name: "./bin/sh", body: "#!"}, {name: "./etc/", typ: tar.TypeDir}, {name: "./etc/a", body: "a"}},
		"a link after its file":    {{name: "a/", typ: tar.TypeDir}, {name: "a/f", body: "same"}, {name: "a/g", typ: tar.TypeLink, link: "a/f"}},
		"a link that sorts first":  {{name: "z", body: "same"}, {name: "a", typ: tar.TypeLink, link: "z"}, {name: "m", typ: tar.TypeLink, link: "z"}},
		"a link to a link":         {{name: "z", body: "same"}, {name: "y", typ: tar.TypeLink, link: "z"}, {name: "x", typ: tar.TypeLink, link: "y"}},
		"a name given twice":       {{name: "b", body: "old"}, {name: "a", body: "a"}, {name: "b", body: "new"}},
		"a file too large to hold": {{name: "c", body: "c"}, {name: "a", body: "a"}, {name: "b", body: big}, {name: "d", body: "d"}},
	} {
		t.Run(name, func(t *testing.T) {
			data := rawTar(t, entries)
			want, wantSt, err := packRaw(t, data, false)
			if err != nil {
				t.Fatal(err)
			}
			got, gotSt, err := packRaw(t, data, true)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) || gotSt.String() != wantSt.String() {
				t.Fatalf("streamed %d bytes %v, spooled %d bytes %v", len(got), gotSt, len(want), wantSt)
			}
		})
	}
}

// A stream further out of order than the hold window, or with a name written then given
// again, is refused with ErrNotCanonical (archive.Create then packs it spooled).
func TestAStreamTooFarOutOfOrderIsRefused(t *testing.T) {
	var late []streamEntry
	for i := range holdEntries + 2 {
		late = append(late, streamEntry{name: "b/" + strings.Repeat("0", 8-len(itoa(i))) + itoa(i), typ: tar.TypeDir})
	}
	late = append(late, streamEntry{name: "a", body: "late"})
	for name, entries := range map[string][]streamEntry{
		"an entry beyond the window": late,
		"a name written, then again": append(append([]streamEntry{{name: "a", body: "1"}}, late[:holdEntries+1]...), streamEntry{name: "a", body: "2"}),
	} {
		t.Run(name, func(t *testing.T) {
			if _, _, err := packRaw(t, rawTar(t, entries), true); !errors.Is(err, ErrNotCanonical) {
				t.Fatalf("want ErrNotCanonical, got %v", err)
			}
		})
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

// Whatever the stream, a streamed pack either refuses it (ErrNotCanonical, or the spooled
// pack's own error) or writes the spooled pack's bytes.
func FuzzStreamedPackMatchesSpooled(f *testing.F) {
	f.Add(rawTar(f, []streamEntry{{name: "./dev/", typ: tar.TypeDir}, {name: "./", typ: tar.TypeDir}, {name: "./a", body: "a"}}))
	f.Add(rawTar(f, []streamEntry{{name: "z", body: "same"}, {name: "a", typ: tar.TypeLink, link: "z"}, {name: "z", body: "new"}}))
	f.Add(rawTar(f, []streamEntry{{name: "d/", typ: tar.TypeDir}, {name: "d/h", typ: tar.TypeLink, link: "d"}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		want, _, werr := packRaw(t, data, false)
		got, _, gerr := packRaw(t, data, true)
		if gerr != nil {
			if werr == nil && !errors.Is(gerr, ErrNotCanonical) {
				t.Fatalf("streamed pack failed (%v) where the spooled one did not", gerr)
			}
			return
		}
		if werr != nil {
			t.Fatalf("streamed pack accepted what the spooled one refused (%v)", werr)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("streamed and spooled packs differ")
		}
	})
}
