// Package repository stores flash archives: content-addressed blobs and manifests with names
// (tags), in an OCI image layout on disk (the default) or in any OCI registry. It owns
// durability (atomic writes, crash safety, concurrent writers) and garbage collection; it knows
// nothing of what an archive contains — that is package archive's business.
//
// Open picks the store from a location: a directory (Local) or oci://host[:port]/repository
// (Remote, optionally with a local cache). Archive names are OCI tags (ValidateName), the same
// in both. Every blob read is checked against its digest: Fetch fails at the end of a blob
// that does not match, and Verify checks one on demand. Copy moves an archive, with its
// referrers, between any two stores.
package repository

import (
	"context"
	"io"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
)

// Store is a repository of archives. It is an oras-go Target (blobs, manifests, tags), so any
// oras copy function works on it, plus what a flash-archive repository needs beyond that.
//
// Push of a blob the store already holds returns an error wrapping errdef.ErrAlreadyExists
// (oras copy functions treat it as success), in a local store as in a registry.
//
// Fetch of every Store verifies: the reader it returns fails, at the latest on its last read,
// when the bytes do not match the descriptor's digest and size. Callers such as export rely
// on this instead of hashing the stream a second time.
type Store interface {
	content.Storage
	content.TagResolver

	// Ingest starts a blob whose digest is not known in advance: a pack streams into it and
	// the digest is computed while writing. Nothing is visible in the store until Commit.
	Ingest(ctx context.Context) (Ingester, error)
	// List returns every named archive (tag) with the descriptor of its manifest, sorted by name.
	List(ctx context.Context) ([]Entry, error)
	// Untag removes a name; the blobs stay until GC finds no name reaching them.
	Untag(ctx context.Context, name string) error
	// GC removes the blobs that no named manifest reaches. With dryRun it only reports.
	GC(ctx context.Context, dryRun bool) (GCReport, error)
	// Close releases what the store holds (locks, connections).
	Close() error
}

// Ingester receives the bytes of one blob.
type Ingester interface {
	io.Writer
	// Commit stores the bytes written so far under their sha256 digest, durably, and returns
	// their descriptor with the given media type. Committing a blob already present is not an
	// error.
	Commit(ctx context.Context, mediaType string) (ocispec.Descriptor, error)
	// Abort discards the bytes written so far. It is safe to call after Commit (it does nothing).
	Abort() error
}

// Entry is one named archive in a store.
type Entry struct {
	Name       string             `json:"name"`
	Descriptor ocispec.Descriptor `json:"descriptor"`
}

// GCReport says what a garbage collection removed (or would remove, in a dry run).
type GCReport struct {
	Removed      []ocispec.Descriptor `json:"removed"`
	BytesRemoved int64                `json:"bytesRemoved"`
	Kept         int                  `json:"kept"`
	// TempFiles counts the files left by writers that died mid-write (older than the grace
	// period); TempFilesRemoved those removed, which a dry run leaves.
	TempFiles        int `json:"tempFiles"`
	TempFilesRemoved int `json:"tempFilesRemoved"`
}
