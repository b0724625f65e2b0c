package httpboot

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/flarecast/flarecast/internal/repository"
	"github.com/flarecast/flarecast/internal/testsupport/logbuf"
	"github.com/flarecast/flarecast/internal/testsupport/netlab"
	"github.com/flarecast/flarecast/internal/testsupport/peers"
)

// corrupt flips one byte of the registry's copy of blob d; the registry serves it as it is.
func corrupt(t *testing.T, r *peers.Registry, d digest.Digest) {
	t.Helper()
	p := filepath.Join(r.Data, "docker/registry/v2/blobs", d.Algorithm().String(), d.Encoded()[:2], d.Encoded(), "data")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRegistryBlobVerifiedBeforeServed: a registry's blob is copied into the cache and
// verified before its first byte goes out; many clients asking at once cause one download;
// a blob the registry corrupted is refused (502) and never cached; a verified blob is then
// served from the cache even with the registry gone.
func TestRegistryBlobVerifiedBeforeServed(t *testing.T) {
	netlab.RequireTools(t, "curl")
	reg := peers.StartRegistry(t, false)
	ctx := context.Background()
	store, err := repository.Open(ctx, repository.RemoteScheme+reg.Addr+"/site/blobs", repository.Options{})
	if err != nil {
		t.Fatal(err)
	}
	good, gdesc := randomBlob(t, store, 4<<20)
	_, bdesc := randomBlob(t, store, 1<<20)
	corrupt(t, reg, bdesc.Digest)
	cache := t.TempDir()
	logs := &logbuf.Buffer{Verbosity: 1}
	blobs, err := NewRepositoryBlobs(store, cache, logs.Logger())
	if err != nil {
		t.Fatal(err)
	}
	srv, hlogs := startHandler(t, Options{Blobs: blobs})
	dir := t.TempDir()

	const clients = 20
	var wg sync.WaitGroup
	errs := make([]error, clients)
	for i := range clients {
		wg.Go(func() {
			out := filepath.Join(dir, fmt.Sprint(i))
			code, err := curl(t, dir, "-o", out, "-w", "%{http_code}", srv.URL+"/blobs/"+gdesc.Digest.String())
			got, _ := os.ReadFile(out)
			if err == nil && (code != "200" || sha256Hex(got) != sha256Hex(good)) {
				err = fmt.Errorf("HTTP %s, %d bytes, sha256 %s", code, len(got), sha256Hex(got))
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("client %d: %v", i, err)
		}
	}
	if n := logs.Count(`"msg"="verified blob from registry into the cache"`, gdesc.Digest.String()); n != 1 {
		t.Errorf("%d downloads of the blob for %d clients, want 1:\n%s", n, clients, logs)
	}

	code, _ := curl(t, dir, "-o", filepath.Join(dir, "bad"), "-w", "%{http_code}", srv.URL+"/blobs/"+bdesc.Digest.String())
	body, _ := os.ReadFile(filepath.Join(dir, "bad"))
	if code != "502" || !strings.Contains(string(body), "does not match its digest") {
		t.Errorf("corrupted blob: HTTP %s %q; want 502 saying the digest does not match", code, body)
	}
	if _, err := os.Stat(filepath.Join(cache, "blobs/sha256", bdesc.Digest.Encoded())); err == nil {
		t.Error("the corrupted blob is in the cache")
	}
	if hlogs.Count(`"status"=502`, bdesc.Digest.String()) != 1 {
		t.Errorf("no log line for the refused blob:\n%s", hlogs)
	}

	reg.Stop()
	code, err = curl(t, dir, "-r", "100-199", "-o", filepath.Join(dir, "again"), "-w", "%{http_code}", srv.URL+"/blobs/"+gdesc.Digest.String())
	got, _ := os.ReadFile(filepath.Join(dir, "again"))
	if err != nil || code != "206" || !bytes.Equal(got, good[100:200]) {
		t.Errorf("from the cache without the registry: HTTP %s, %v", code, err)
	}
	code, _ = curl(t, dir, "-o", "/dev/null", "-w", "%{http_code}", srv.URL+"/blobs/sha256:"+strings.Repeat("cd", 32))
	if code != "502" {
		t.Errorf("unknown blob with the registry down: HTTP %s, want 502 (the registry cannot be asked)", code)
	}
}

// TestRegistryUnknownBlobIs404: a digest the registry does not hold is a 404, not an error.
func TestRegistryUnknownBlobIs404(t *testing.T) {
	netlab.RequireTools(t, "curl")
	reg := peers.StartRegistry(t, false)
	store, err := repository.Open(context.Background(), repository.RemoteScheme+reg.Addr+"/site/blobs", repository.Options{})
	if err != nil {
		t.Fatal(err)
	}
	blobs, _ := NewRepositoryBlobs(store, t.TempDir(), logsDiscard())
	srv, _ := startHandler(t, Options{Blobs: blobs})
	code, _ := curl(t, t.TempDir(), "-o", "/dev/null", "-w", "%{http_code}", srv.URL+"/blobs/sha256:"+strings.Repeat("ef", 32))
	if code != "404" {
		t.Errorf("HTTP %s, want 404", code)
	}
}
