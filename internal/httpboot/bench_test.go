package httpboot

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/flarecast/flarecast/internal/repository"
	"github.com/flarecast/flarecast/internal/testsupport/netlab"
	"github.com/flarecast/flarecast/internal/testsupport/peers"
)

// ipxeFiles are the boot loaders of Debian's ipxe package (ipxe.efi is a symlink into /boot).
var ipxeFiles = []string{"/usr/lib/ipxe/undionly.kpxe", "/usr/lib/ipxe/ipxe.efi", "/usr/lib/ipxe/snponly.efi"}

// BenchmarkP4HTTP: curl clients fetch blobs (the iPXE binaries, or a 64 MiB blob) by digest
// from flarecast's handler and the same files from nginx (sendfile on, the setup a site would
// pick instead), on loopback; 1 and 20 clients at once. Both sides alternate within a run;
// hack/bench-p4.sh turns the output into ratios.
func BenchmarkP4HTTP(b *testing.B) {
	netlab.RequireTools(b, "curl", "nginx")
	for _, f := range ipxeFiles {
		if _, err := os.Stat(f); err != nil {
			netlab.RequireTools(b, f)
		}
	}
	store, err := repository.OpenLocal(b.TempDir(), repository.Options{})
	if err != nil {
		b.Fatal(err)
	}
	var ipxe []digest.Digest
	var ipxeSize int64
	for _, f := range ipxeFiles {
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		d := pushBytes(b, store, data)
		ipxe = append(ipxe, d)
		ipxeSize += int64(len(data))
	}
	big := make([]byte, 64<<20)
	rand.Read(big)
	bigDigest := pushBytes(b, store, big)
	blobs, _ := NewRepositoryBlobs(store, "", logsDiscard())
	ours, _ := startHandler(b, Options{Blobs: blobs})
	theirs := startNginx(b, filepath.Join(store.Root(), "blobs", "sha256"))
	// One fetch of everything from each side first: the side that runs first would otherwise
	// pay for a cold page cache (the blobs were just written) and a cold curl.
	for _, prefix := range []string{ours.URL + "/blobs/sha256:", theirs + "/blobs/"} {
		var urls []string
		for _, d := range append(ipxe, bigDigest) {
			urls = append(urls, prefix+d.Encoded())
		}
		fetchAll(b, urls, 1)
	}
	for _, set := range []struct {
		name    string
		digests []digest.Digest
		size    int64
	}{{"ipxe", ipxe, ipxeSize}, {"64MiB", []digest.Digest{bigDigest}, int64(len(big))}} {
		for _, clients := range []int{1, 20} {
			servers := []struct{ name, prefix string }{{"flarecast", ours.URL + "/blobs/sha256:"}, {"nginx", theirs + "/blobs/"}}
			if os.Getenv("P4_REVERSE") != "" {
				servers[0], servers[1] = servers[1], servers[0]
			}
			for _, srv := range servers {
				b.Run(fmt.Sprintf("files=%s/clients=%d/server=%s", set.name, clients, srv.name), func(b *testing.B) {
					var urls []string
					for _, d := range set.digests {
						urls = append(urls, srv.prefix+d.Encoded())
					}
					b.SetBytes(set.size * int64(clients))
					for b.Loop() {
						fetchAll(b, urls, clients)
					}
				})
			}
		}
	}
}

func pushBytes(b testing.TB, store repository.Store, data []byte) digest.Digest {
	b.Helper()
	d := digest.FromBytes(data)
	desc := ociDesc(d, int64(len(data)))
	if err := store.Push(b.Context(), desc, bytes.NewReader(data)); err != nil && !strings.Contains(err.Error(), "already exists") {
		b.Fatal(err)
	}
	return d
}

// fetchAll runs clients curl processes at once, each fetching every URL to /dev/null, and
// fails on any error or status other than 200.
func fetchAll(b testing.TB, urls []string, clients int) {
	args := []string{"-sS", "-f"}
	for _, u := range urls {
		args = append(args, "-o", "/dev/null", u)
	}
	peers.RunAtOnce(b, clients, nil, "curl", args...)
}

// startNginx serves dir at /blobs/ on a free loopback port (peers.StartNginx).
func startNginx(b testing.TB, dir string) string {
	b.Helper()
	return peers.StartNginx(b, dir, peers.Nginx{})
}
