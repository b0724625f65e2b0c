package repository

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/flarecast/flarecast/internal/testsupport/fstree"
)

// staleTemp leaves a temp file as a writer that died an hour and more ago would.
func staleTemp(t testing.TB, dir string) string {
	t.Helper()
	p := filepath.Join(dir, tempPrefix+"dead")
	if err := os.WriteFile(p, []byte("half a blob"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * DefaultGCGrace)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
	return p
}

// A store opened read-only reads everything and changes nothing: not the crashed writers'
// temp files (which its dry-run GC counts), not the lock file, and every write is refused.
func TestReadOnlyStoreChangesNothing(t *testing.T) {
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "repo")
	w, err := OpenLocal(root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := makeArchive(t, "named", nil, "binary section")
	a.push(t, w, "named")
	orphan := makeArchive(t, "orphan", nil, "no name reaches it")
	orphan.push(t, w, "")
	staleTemp(t, root)
	staleTemp(t, filepath.Join(root, "blobs", "sha256"))
	old := time.Now().Add(-2 * DefaultGCGrace)
	for _, d := range []ocispec.Descriptor{orphan.manifest, orphan.config, orphan.layers[0]} {
		os.Chtimes(w.BlobPath(d.Digest), old, old)
	}
	for _, withLock := range []bool{true, false} {
		t.Run(fmt.Sprintf("lock file %v", withLock), func(t *testing.T) {
			if !withLock {
				// A layout another tool wrote has no lock file; a reader must not add one.
				if err := os.Remove(filepath.Join(root, lockFileName)); err != nil {
					t.Fatal(err)
				}
			}
			before := fstree.State(t, root)
			s, err := Open(ctx, root, Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			l := s.(*Local)
			if _, err := l.Resolve(ctx, "named"); err != nil {
				t.Fatal(err)
			}
			if got := fetchAll(t, l, a.layers[0]); !bytes.Equal(got, []byte("binary section")) {
				t.Fatalf("fetch: %q", got)
			}
			if _, err := l.List(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := l.Predecessors(ctx, a.manifest); err != nil {
				t.Fatal(err)
			}
			rep, err := l.GC(ctx, true)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Removed) != 3 || rep.TempFiles != 2 || rep.TempFilesRemoved != 0 {
				t.Fatalf("dry-run gc: %d blobs, %d temp files (%d removed); want 3 unreachable blobs and 2 temp files reported, none removed",
					len(rep.Removed), rep.TempFiles, rep.TempFilesRemoved)
			}
			if n, err := l.AbandonedTempFiles(); err != nil || n != 2 {
				t.Fatalf("AbandonedTempFiles: %d, %v; want 2", n, err)
			}
			writes := map[string]error{}
			_, writes["gc"] = l.GC(ctx, false)
			writes["push"] = l.Push(ctx, orphan.layers[0], bytes.NewReader([]byte("no name reaches it")))
			writes["tag"] = l.Tag(ctx, a.manifest, "other")
			writes["untag"] = l.Untag(ctx, "named")
			_, writes["ingest"] = l.Ingest(ctx)
			for op, err := range writes {
				if !errors.Is(err, ErrReadOnly) {
					t.Errorf("%s on a read-only store: %v, want ErrReadOnly", op, err)
				}
			}
			if after := fstree.State(t, root); after != before {
				t.Fatalf("a read-only store changed the repository:\nbefore\n%s\nafter\n%s", before, after)
			}
		})
	}
	// GC of a store opened for writing is what removes them.
	rep, err := w.GC(ctx, false)
	if err != nil || rep.TempFilesRemoved != 2 || len(rep.Removed) != 3 {
		t.Fatalf("gc: %+v, %v; want the 3 blobs and 2 temp files removed", rep, err)
	}
}

// Opening read-only never makes a store: a missing or empty directory is an error and stays as
// it was.
func TestReadOnlyOpenCreatesNoStore(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	if _, err := OpenLocal(missing, Options{ReadOnly: true}); err == nil {
		t.Fatal("a missing directory opened read-only")
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("opening %s read-only made it: %v", missing, err)
	}
	empty := t.TempDir()
	if _, err := OpenLocal(empty, Options{ReadOnly: true}); err == nil || !strings.Contains(err.Error(), "not an OCI image layout") {
		t.Fatalf("an empty directory opened read-only: %v", err)
	}
	if ents, _ := os.ReadDir(empty); len(ents) != 0 {
		t.Fatalf("opening an empty directory read-only wrote %d entries into it", len(ents))
	}
}
