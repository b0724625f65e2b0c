package repository

import (
	"errors"
	"os"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// hashedTemp is a temp file that hashes what is written to it. Both stores ingest through
// one: the local store renames it into place, the registry store uploads it.
type hashedTemp struct {
	f    *os.File
	d    digest.Digester
	n    int64
	done bool
}

func newHashedTemp(f *os.File) hashedTemp {
	return hashedTemp{f: f, d: digest.Canonical.Digester()}
}

func (t *hashedTemp) Write(p []byte) (int, error) {
	if t.done {
		return 0, errors.New("ingest: write after commit or abort")
	}
	n, err := t.f.Write(p)
	t.d.Hash().Write(p[:n])
	t.n += int64(n)
	return n, err
}

// seal ends the writing and describes what was written; the caller then owns the file.
func (t *hashedTemp) seal(mediaType string) (ocispec.Descriptor, error) {
	if t.done {
		return ocispec.Descriptor{}, errors.New("ingest: commit after commit or abort")
	}
	t.done = true
	return ocispec.Descriptor{MediaType: mediaType, Digest: t.d.Digest(), Size: t.n}, nil
}
