package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/flarecast/flarecast/internal/tarball"
)

// A tar file is packed as it is read when it can be, and packed again spooled when it is too
// far out of order: either way, the digest a pipe (always spooled) gives, and the failed
// streaming attempt leaves no blob behind.
func TestCreateFromATarFileGivesThePipesDigestInAnyOrder(t *testing.T) {
	for name, reversed := range map[string]bool{"in order": false, "reversed": true} {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			tw := tar.NewWriter(&b)
			n := 5000 // more than the stream's hold window
			for i := range n {
				if reversed {
					i = n - 1 - i
				}
				body := fmt.Sprintf("file %d\n", i)
				tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("f%05d", i), Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
				tw.Write([]byte(body))
			}
			tw.Close()
			p := filepath.Join(t.TempDir(), "root.tar")
			if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			opts := CreateOptions{Name: "base", Architecture: "amd64", OS: "linux", TempDir: t.TempDir()}
			fromFile, dir := openStore(t)
			a, _, err := Create(context.Background(), fromFile, tarball.TarSource(f), opts)
			if err != nil {
				t.Fatal(err)
			}
			fromPipe, _ := openStore(t)
			c, _, err := Create(context.Background(), fromPipe, tarball.TarSource(io.MultiReader(bytes.NewReader(b.Bytes()))), opts)
			if err != nil {
				t.Fatal(err)
			}
			if a.Digest != c.Digest {
				t.Fatalf("from the file %s, from a pipe %s", a.Digest, c.Digest)
			}
			blobs, _ := os.ReadDir(filepath.Join(dir, "blobs", "sha256"))
			if len(blobs) != 3 { // manifest, config, binary section
				t.Fatalf("%d blobs in the store, want 3", len(blobs))
			}
		})
	}
}
