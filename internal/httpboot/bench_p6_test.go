package httpboot

import (
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flarecast/flarecast/internal/repository"
	"github.com/flarecast/flarecast/internal/testsupport/netlab"
	"github.com/flarecast/flarecast/internal/testsupport/peers"
)

// BenchmarkP6: 50 clients download a 1 GiB blob at once and check its sha256 (curl | sha256sum,
// the same pipeline on both sides), from flarecast's handler and from nginx serving the same
// file. The figure is the aggregate throughput. hack/bench-p6.sh alternates the sides.
func BenchmarkP6(b *testing.B) {
	netlab.RequireTools(b, "curl", "nginx", "sha256sum", "bash")
	store, err := repository.OpenLocal(b.TempDir(), repository.Options{})
	if err != nil {
		b.Fatal(err)
	}
	in, err := store.Ingest(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.CopyN(in, rand.Reader, 1<<30); err != nil {
		b.Fatal(err)
	}
	desc, err := in.Commit(b.Context(), "application/octet-stream")
	if err != nil {
		b.Fatal(err)
	}
	blobs, _ := NewRepositoryBlobs(store, "", logsDiscard())
	ours, _ := startHandler(b, Options{Blobs: blobs})
	theirs := startNginx(b, filepath.Join(store.Root(), "blobs", "sha256"))
	const clients = 50
	servers := []struct{ name, url string }{
		{"flarecast", ours.URL + "/blobs/" + desc.Digest.String()},
		{"nginx", theirs + "/blobs/" + desc.Digest.Encoded()},
	}
	if os.Getenv("P4_REVERSE") != "" {
		servers[0], servers[1] = servers[1], servers[0]
	}
	for _, srv := range servers {
		b.Run(fmt.Sprintf("clients=%d/server=%s", clients, srv.name), func(b *testing.B) {
			b.SetBytes(desc.Size * clients)
			sum := func(out []byte) error {
				if !strings.HasPrefix(string(out), desc.Digest.Encoded()) {
					return fmt.Errorf("sha256 is not the blob's %s", desc.Digest.Encoded())
				}
				return nil
			}
			for b.Loop() {
				peers.RunAtOnce(b, clients, sum, "bash", "-c", "set -o pipefail; curl -sS -f "+srv.url+" | sha256sum")
			}
		})
	}
}
