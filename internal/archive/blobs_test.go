package archive

import (
	"context"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/flarecast/flarecast/internal/repository"
)

// racingStore answers Exists with false, as a store does when another writer stores the same
// blob between the look-up and the push: the push then finds it there.
type racingStore struct{ *repository.Local }

func (racingStore) Exists(context.Context, ocispec.Descriptor) (bool, error) { return false, nil }

// Written counts what an operation added; a blob another writer stored first is not one.
func TestWrittenLeavesOutBlobsAnotherWriterStored(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	createGeneric(t, s, "base", 1000)
	opts := DeriveOptions{Base: "base", Name: "conf", Type: Configured, Configuration: sampleConfiguration("x")}
	if _, err := Derive(ctx, s, opts); err != nil {
		t.Fatal(err)
	}
	res, err := Derive(ctx, racingStore{s}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Written != (Written{}) {
		t.Fatalf("a repeated derive, every blob already stored, wrote %+v", res.Written)
	}
}
