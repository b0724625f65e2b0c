package repository

import (
	"bytes"
	"context"
	"errors"
	"os"
	"sort"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/errdef"
)

// A writer that reuses an unreferenced blob while GC sweeps must not lose it: GC has listed it
// as garbage, and a Push of it ("already exists", its grace restarted) or an Ingest of the same
// bytes (renamed into place) lands between that list and the removal. The writer then names
// its archive, and the name must resolve to blobs that are there.
func TestBlobReusedWhileGCSweepsSurvives(t *testing.T) {
	ctx := context.Background()
	s := openLocal(t, Options{GCGrace: time.Hour})
	var blobs []ocispec.Descriptor
	data := map[string][]byte{}
	for _, c := range []string{"a", "b", "c", "d", "e", "f"} {
		b := []byte("unreferenced blob " + c)
		d := descOf("application/vnd.flarecast.test.layer.v1", b)
		if err := s.Push(ctx, d, bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-2 * time.Hour)
		if err := os.Chtimes(s.BlobPath(d.Digest), old, old); err != nil {
			t.Fatal(err)
		}
		blobs = append(blobs, d)
		data[d.Digest.String()] = b
	}
	// GC removes in directory order and the hook runs before the second removal: the last
	// two blobs are still listed as garbage and not yet removed.
	sort.Slice(blobs, func(i, j int) bool { return blobs[i].Digest < blobs[j].Digest })
	pushed, ingested := blobs[len(blobs)-1], blobs[len(blobs)-2]

	writerDone := make(chan error, 1)
	crashHook = func(point string) {
		if point != "gc-sweeping" {
			return
		}
		go func() {
			err := s.Push(ctx, pushed, bytes.NewReader(data[pushed.Digest.String()]))
			if err != nil && !errors.Is(err, errdef.ErrAlreadyExists) {
				writerDone <- err
				return
			}
			in, err := s.Ingest(ctx)
			if err != nil {
				writerDone <- err
				return
			}
			in.Write(data[ingested.Digest.String()])
			_, err = in.Commit(ctx, ingested.MediaType)
			writerDone <- err
		}()
		// Give the writer the time to finish inside the sweep, if the store lets it.
		select {
		case err := <-writerDone:
			writerDone <- err
		case <-time.After(300 * time.Millisecond):
		}
	}
	t.Cleanup(func() { crashHook = nil })
	if _, err := s.GC(ctx, false); err != nil {
		t.Fatal(err)
	}
	if err := <-writerDone; err != nil {
		t.Fatalf("writer: %v", err)
	}
	for _, d := range []ocispec.Descriptor{pushed, ingested} {
		if ok := present(t, s, d)[d.Digest]; !ok {
			t.Errorf("blob %s, stored by a writer during the sweep, was removed by it", d.Digest)
		}
	}
}
