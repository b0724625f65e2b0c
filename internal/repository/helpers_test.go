package repository

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/errdef"
)

// testArchive is a small archive-shaped graph: config, layers, manifest.
type testArchive struct {
	config   ocispec.Descriptor
	layers   []ocispec.Descriptor
	manifest ocispec.Descriptor
	blobs    map[digest.Digest][]byte
}

func descOf(mediaType string, data []byte) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}
}

// makeArchive builds an archive whose layers have the given contents. A subject makes the
// manifest a referrer.
func makeArchive(t testing.TB, name string, subject *ocispec.Descriptor, layers ...string) testArchive {
	t.Helper()
	a, err := buildArchive(name, subject, layers...)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func buildArchive(name string, subject *ocispec.Descriptor, layers ...string) (testArchive, error) {
	a := testArchive{blobs: map[digest.Digest][]byte{}}
	cfg := []byte(fmt.Sprintf(`{"name":%q}`, name))
	a.config = descOf("application/vnd.flarecast.test.config.v1+json", cfg)
	a.blobs[a.config.Digest] = cfg
	for _, l := range layers {
		d := descOf("application/vnd.flarecast.test.layer.v1", []byte(l))
		a.layers = append(a.layers, d)
		a.blobs[d.Digest] = []byte(l)
	}
	m := ocispec.Manifest{
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    a.config,
		Layers:    a.layers,
		Subject:   subject,
	}
	m.SchemaVersion = 2
	if a.layers == nil {
		m.Layers = []ocispec.Descriptor{}
	}
	data, err := json.Marshal(m)
	if err != nil {
		return a, err
	}
	a.manifest = descOf(ocispec.MediaTypeImageManifest, data)
	a.blobs[a.manifest.Digest] = data
	return a, nil
}

func (a testArchive) all() []ocispec.Descriptor {
	return append(append([]ocispec.Descriptor{a.config}, a.layers...), a.manifest)
}

// push stores every blob of a (manifest last) and names it.
func (a testArchive) push(t testing.TB, s Store, name string) {
	t.Helper()
	if err := a.store(context.Background(), s, name); err != nil {
		t.Fatal(err)
	}
}

func (a testArchive) store(ctx context.Context, s Store, name string) error {
	for _, d := range a.all() {
		err := s.Push(ctx, d, bytes.NewReader(a.blobs[d.Digest]))
		if err != nil && !errors.Is(err, errdef.ErrAlreadyExists) {
			return fmt.Errorf("push %s: %w", d.Digest, err)
		}
	}
	if name != "" {
		if err := s.Tag(ctx, a.manifest, name); err != nil {
			return fmt.Errorf("tag %s: %w", name, err)
		}
	}
	return nil
}

func fetchAll(t testing.TB, s Store, d ocispec.Descriptor) []byte {
	t.Helper()
	rc, err := s.Fetch(context.Background(), d)
	if err != nil {
		t.Fatalf("fetch %s: %v", d.Digest, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", d.Digest, err)
	}
	return data
}

func openLocal(t testing.TB, opts Options) *Local {
	t.Helper()
	s, err := OpenLocal(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func jsonDecode(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }
