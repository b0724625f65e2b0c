package flar

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/flarecast/flarecast/internal/archive"
	"github.com/flarecast/flarecast/internal/repository"
)

// FuzzImport feeds arbitrary bytes to Import into a fresh store: it must never panic, and when
// it refuses the input the store must hold no name and no blob. What it accepts must verify.
// Seeds: testdata/fuzz/FuzzImport (regenerate with FLARECAST_WRITE_FUZZ_CORPUS=1).
func FuzzImport(f *testing.F) {
	// One store for the whole run: opening one per input would cost more than the import.
	// An accepted input is untagged and collected so the next starts from an empty store.
	dir := filepath.Join(f.TempDir(), "repo")
	store, err := repository.OpenLocal(dir, repository.Options{GCGrace: -1})
	if err != nil {
		f.Fatal(err)
	}
	defer store.Close()
	f.Fuzz(func(t *testing.T, b []byte) {
		ctx := context.Background()
		res, err := Import(ctx, store, bytes.NewReader(b), ImportOptions{})
		if err != nil {
			assertUntouched(t, store, dir)
			return
		}
		for _, a := range res.Header.Archives {
			if _, err := archive.Verify(ctx, store, a.Tag, archive.VerifyOptions{}); err != nil {
				t.Fatalf("import accepted %s but it does not verify: %v", a.Tag, err)
			}
			if err := store.Untag(ctx, a.Tag); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := store.GC(ctx, false); err != nil {
			t.Fatal(err)
		}
		assertUntouched(t, store, dir)
	})
}

// TestWriteFuzzCorpus regenerates the checked-in seeds of FuzzImport from a small software
// load: a whole file, and the same file cut in the header and in the binary section.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("FLARECAST_WRITE_FUZZ_CORPUS") == "" {
		t.Skip("set FLARECAST_WRITE_FUZZ_CORPUS=1 to regenerate testdata/fuzz/FuzzImport")
	}
	src, _ := openStore(t)
	softwareLoad(t, src, 64)
	whole := exportBytes(t, src, "web-prod", "base")
	dir := filepath.Join("testdata", "fuzz", "FuzzImport")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	seeds := map[string][]byte{"whole": whole, "cut-in-header": whole[:200], "cut-in-binary": whole[:len(whole)-100]}
	for name, b := range seeds {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
