package tarball

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

var updateSeeds = flag.Bool("update-fuzz-seeds", false, "rewrite testdata/fuzz/FuzzExtract")

// FuzzExtract feeds arbitrary bytes to Extract: it may fail, but it must not panic, and nothing
// outside the target directory may change.
func FuzzExtract(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		s := newSandbox(t)
		before := s.outsideState(t)
		done := make(chan struct{})
		go func() {
			defer close(done)
			Extract(context.Background(), bytes.NewReader(data), s.target, ExtractOptions{MaxBytes: 4 << 20})
		}()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatalf("Extract has not returned after 20 s on %q", data)
		}
		if after := s.outsideState(t); !slices.Equal(before, after) {
			t.Fatalf("outside the target changed:\n%s", diffLines(before, after))
		}
	})
}

// fuzzSeeds are the starting points of FuzzExtract: a real packed tree (plain and zstd) and
// each hostile shape the table test refuses.
func fuzzSeeds(t *testing.T) map[string][]byte {
	seeds := map[string][]byte{
		"links-and-specials": buildTar(t, []tarEntry{
			{name: "./", typ: tar.TypeDir, mode: 0o755},
			{name: "d/", typ: tar.TypeDir, mode: 0o1777},
			{name: "d/f", body: "content", mode: 0o4755},
			{name: "d/h", typ: tar.TypeLink, link: "d/f"},
			{name: "d/s", typ: tar.TypeSymlink, link: "f"},
			{name: "d/abs", typ: tar.TypeSymlink, link: "/etc"},
			{name: "p", typ: tar.TypeFifo},
			{name: "c", typ: tar.TypeChar},
		}),
		"symlink-escape":       buildTar(t, []tarEntry{{name: "e", typ: tar.TypeSymlink, link: "../outside"}, {name: "e/x", body: "x"}}),
		"symlink-replace":      buildTar(t, []tarEntry{{name: "e", typ: tar.TypeSymlink, link: "../outside/secret"}, {name: "e", body: "x"}}),
		"traversal":            buildTar(t, []tarEntry{{name: "../outside/x", body: "x"}}),
		"absolute":             buildTar(t, []tarEntry{{name: "/outside/x", body: "x"}}),
		"hardlink-escape":      buildTar(t, []tarEntry{{name: "l", typ: tar.TypeLink, link: "../outside/secret"}}),
		"hardlink-via-symlink": buildTar(t, []tarEntry{{name: "s", typ: tar.TypeSymlink, link: "../outside"}, {name: "l", typ: tar.TypeLink, link: "s/secret"}}),
		"absurd-size":          setSizeBase256(buildTar(t, []tarEntry{{name: "big", body: "x"}}), 0, 1<<50),
		"truncated":            buildTar(t, []tarEntry{{name: "f", body: noise(3000)}})[:1500],
	}
	// Packed from a hand-made tar rather than a directory, so the seed does not depend on
	// who runs the test.
	src := buildTar(t, []tarEntry{
		{name: "a/", typ: tar.TypeDir, mode: 0o755},
		{name: "a/l", typ: tar.TypeSymlink, link: "../a/f"},
		{name: "a/g", typ: tar.TypeLink, link: "a/f"},
		{name: "a/f", body: "hello"},
	})
	seeds["packed-plain"], _ = packBytes(t, TarSource(bytes.NewReader(src)), PackOptions{Compression: Plain})
	// Compressed by the test's own encoder, so the seed is the same whichever encoder this
	// build packs with.
	seeds["packed-zstd"] = compress(t, seeds["packed-plain"])
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	zw.Write(seeds["packed-plain"])
	zw.Close()
	seeds["packed-gzip"] = gz.Bytes()
	return seeds
}

// TestFuzzSeedCorpusIsCurrent checks the checked-in corpus against fuzzSeeds; run it with
// -update-fuzz-seeds after changing the seeds or the pack format.
func TestFuzzSeedCorpusIsCurrent(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzExtract")
	for name, data := range fuzzSeeds(t) {
		want := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\n", strconv.Quote(string(data)))
		path := filepath.Join(dir, name)
		if *updateSeeds {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != want {
			t.Errorf("%s is missing or stale (%v): run go test ./internal/tarball -run TestFuzzSeedCorpusIsCurrent -update-fuzz-seeds", path, err)
		}
	}
}
