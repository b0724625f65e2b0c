package repository

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/errdef"
)

func TestRegistryStoreRoundTrip(t *testing.T) {
	ctx := context.Background()
	reg := startRegistry(t, false)
	s := openRemote(t, reg.location("flarecast/archives"), Options{})

	if list, err := s.List(ctx); err != nil || len(list) != 0 {
		t.Fatalf("list of a repository nothing was pushed to = %v, %v; want empty", list, err)
	}
	in, err := s.Ingest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(in, "streamed to the registry")
	streamed, err := in.Commit(ctx, "application/octet-stream")
	if err != nil {
		t.Fatal(err)
	}
	if streamed.Digest != digest.FromString("streamed to the registry") {
		t.Fatalf("ingest digest %s", streamed.Digest)
	}
	if got := fetchAll(t, s, streamed); string(got) != "streamed to the registry" {
		t.Fatalf("fetch of ingested blob = %q", got)
	}

	a := makeArchive(t, "remote", nil, "binary section", "configuration section")
	a.push(t, s, "v2")
	b := makeArchive(t, "other", nil, "binary section")
	b.push(t, s, "v1")
	for _, d := range a.all() {
		if ok, err := s.Exists(ctx, d); err != nil || !ok {
			t.Fatalf("exists %s = %v, %v", d.Digest, ok, err)
		}
		if got := fetchAll(t, s, d); !bytes.Equal(got, a.blobs[d.Digest]) {
			t.Fatalf("fetch %s returned other bytes", d.Digest)
		}
	}
	list, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "v1" || list[1].Name != "v2" || list[1].Descriptor.Digest != a.manifest.Digest {
		t.Fatalf("list = %+v", list)
	}
	if err := s.Untag(ctx, "v1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Resolve(ctx, "v1"); !errors.Is(err, errdef.ErrNotFound) || !strings.Contains(err.Error(), "flarecast archive list") {
		t.Fatalf("resolve after untag: %v, want a not-found that says how to list names", err)
	}
	if _, err := s.GC(ctx, false); !errors.Is(err, errdef.ErrUnsupported) || !strings.Contains(err.Error(), "registry's own garbage collection") {
		t.Fatalf("gc on a registry: %v", err)
	}
	if err := s.Push(ctx, a.layers[0], bytes.NewReader(a.blobs[a.layers[0].Digest])); !errors.Is(err, errdef.ErrAlreadyExists) {
		t.Fatalf("second push of a blob: %v, want already exists", err)
	}
	bad := descOf("application/octet-stream", []byte("claimed"))
	if err := s.Push(ctx, bad, strings.NewReader("something else")); err == nil {
		t.Fatal("registry accepted content that does not match its digest")
	}
}

// An archive goes local → registry → another local store, and comes back whole.
func TestCopyBetweenLocalStoreAndRegistry(t *testing.T) {
	ctx := context.Background()
	reg := startRegistry(t, false)
	remote := openRemote(t, reg.location("site/archives"), Options{})
	src := openLocal(t, Options{})
	a := makeArchive(t, "travels", nil, "binary", "cluster section")
	a.push(t, src, "travels")
	sig := makeArchive(t, "sig", &a.manifest, "signature")
	sig.push(t, src, "")

	pushed, err := Copy(ctx, src, remote, "travels", "")
	if err != nil {
		t.Fatal(err)
	}
	if pushed.Digest != a.manifest.Digest {
		t.Fatalf("pushed %s, want %s", pushed.Digest, a.manifest.Digest)
	}
	dst := openLocal(t, Options{})
	pulled, err := Copy(ctx, remote, dst, "travels", "renamed")
	if err != nil {
		t.Fatal(err)
	}
	if pulled.Digest != a.manifest.Digest {
		t.Fatalf("pulled %s, want %s", pulled.Digest, a.manifest.Digest)
	}
	for _, d := range a.all() {
		if got := fetchAll(t, dst, d); !bytes.Equal(got, a.blobs[d.Digest]) {
			t.Fatalf("pulled %s differs", d.Digest)
		}
	}
	checkConsistent(t, dst)
	// The signature came along both ways, and the registry's bookkeeping of it is no name.
	refs, err := dst.Predecessors(ctx, a.manifest)
	if err != nil || len(refs) != 1 || refs[0].Digest != sig.manifest.Digest {
		t.Fatalf("referrers after the round trip = %v, %v; want the signature %s", refs, err, sig.manifest.Digest)
	}
	if got := fetchAll(t, dst, sig.layers[0]); string(got) != "signature" {
		t.Fatalf("signature layer = %q", got)
	}
	if list, err := remote.List(ctx); err != nil || len(list) != 1 || list[0].Name != "travels" {
		t.Fatalf("registry list = %+v, %v; want only travels", list, err)
	}
	if _, err := Copy(ctx, src, remote, "missing", ""); !errors.Is(err, errdef.ErrNotFound) {
		t.Fatalf("copy of a missing name: %v, want not found", err)
	}
}

func TestRegistryCredentialsComeFromDockerConfig(t *testing.T) {
	ctx := context.Background()
	reg := startRegistry(t, true)
	a := makeArchive(t, "secret", nil, "guarded layer")
	tests := []struct {
		name    string
		config  func(t *testing.T) Options
		wantErr string
	}{
		{"right password in Options.DockerConfig", func(t *testing.T) Options {
			return Options{DockerConfig: dockerConfig(t, reg.addr, testUser, testPassword)}
		}, ""},
		{"right password in $DOCKER_CONFIG/config.json", func(t *testing.T) Options {
			t.Setenv("DOCKER_CONFIG", filepath.Dir(dockerConfig(t, reg.addr, testUser, testPassword)))
			return Options{}
		}, ""},
		{"wrong password", func(t *testing.T) Options {
			return Options{DockerConfig: dockerConfig(t, reg.addr, testUser, "guess")}
		}, "authentication failed"},
		{"no credentials for the host", func(t *testing.T) Options {
			return Options{DockerConfig: dockerConfig(t, "elsewhere.invalid", testUser, testPassword)}
		}, "docker login " + reg.addr},
		{"docker config that does not exist", func(t *testing.T) Options {
			return Options{DockerConfig: filepath.Join(t.TempDir(), "nope.json")}
		}, "docker config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(ctx, reg.location("guarded/archives"), tt.config(t))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("open: %v, want error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			a.push(t, s, "secret")
			if got, err := s.Resolve(ctx, "secret"); err != nil || got.Digest != a.manifest.Digest {
				t.Fatalf("resolve = %s, %v", got.Digest, err)
			}
		})
	}
}

func TestOpenRegistryErrorsSayHowToFixThem(t *testing.T) {
	ctx := context.Background()
	dead := freeAddr(t) // nothing listens there once freeAddr returns
	opts := Options{DockerConfig: dockerConfig(t, "example.invalid", "x", "y")}
	start := time.Now()
	_, err := Open(ctx, RemoteScheme+dead+"/archives", opts)
	if err == nil || !strings.Contains(err.Error(), "unreachable") || !strings.Contains(err.Error(), "check the address") {
		t.Fatalf("open of a dead address: %v", err)
	}
	t.Logf("unreachable registry reported after %v: %v", time.Since(start).Round(time.Millisecond), err)
	for _, bad := range []string{"oci://", "oci://127.0.0.1:5000", "oci://127.0.0.1:5000/UPPER"} {
		if _, err := Open(ctx, bad, opts); err == nil || !strings.Contains(err.Error(), "host[:port]/repository") {
			t.Errorf("open %q: %v, want advice on the location's form", bad, err)
		}
	}
}

// A cache in front of a registry serves what it holds, repairs a corrupt copy, and keeps
// serving when the registry is gone.
func TestRegistryCacheServesVerifiesAndRepairs(t *testing.T) {
	ctx := context.Background()
	reg := startRegistry(t, false)
	a := makeArchive(t, "cached", nil, strings.Repeat("big binary section ", 1000))
	a.push(t, openRemote(t, reg.location("cached/archives"), Options{}), "cached")

	cacheDir := t.TempDir()
	s := openRemote(t, reg.location("cached/archives"), Options{CacheDir: cacheDir})
	cache, err := OpenLocal(cacheDir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	layer := a.layers[0]
	if got := fetchAll(t, s, layer); !bytes.Equal(got, a.blobs[layer.Digest]) {
		t.Fatal("first fetch returned other bytes")
	}
	if err := Verify(ctx, cache, layer); err != nil {
		t.Fatalf("cache was not filled: %v", err)
	}

	// A partial read must not leave a partial blob in the cache.
	rc, err := s.Fetch(ctx, a.config)
	if err != nil {
		t.Fatal(err)
	}
	rc.Read(make([]byte, 3))
	rc.Close()
	if ok, _ := cache.Exists(ctx, a.config); ok {
		t.Fatal("an abandoned fetch left a blob in the cache")
	}
	assertNoTemps(t, cache)

	// Rot the cached copy (same size): the next fetch notices and fetches it again.
	path := cache.BlobPath(layer.Digest)
	rotten := bytes.ToUpper(a.blobs[layer.Digest])
	if err := os.WriteFile(path, rotten, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := fetchAll(t, s, layer); !bytes.Equal(got, a.blobs[layer.Digest]) {
		t.Fatal("fetch served the corrupt cached copy")
	}
	if err := Verify(ctx, cache, layer); err != nil {
		t.Fatalf("cache was not repaired: %v", err)
	}

	// With the registry gone, what is cached is still served.
	reg.stop()
	if got := fetchAll(t, s, layer); !bytes.Equal(got, a.blobs[layer.Digest]) {
		t.Fatal("cached blob not served without the registry")
	}
	if _, err := s.Fetch(ctx, a.manifest); err == nil {
		t.Fatal("a blob never cached was served without the registry")
	}
}

// crane, a client no one here wrote, reads what the store pushed, and pushes our on-disk
// layout to the registry, from where our store reads it back.
func TestCraneReadsOurRegistryPushesAndOurLayout(t *testing.T) {
	ctx := context.Background()
	reg := startRegistry(t, false)
	s := openRemote(t, reg.location("crane/archives"), Options{})
	a := makeArchive(t, "for-crane", nil, "layer crane downloads")
	a.push(t, s, "v1")
	a.push(t, s, "v2")

	if got := strings.Fields(crane(t, "ls", "--insecure", reg.addr+"/crane/archives")); !equalStrings(got, []string{"v1", "v2"}) {
		t.Fatalf("crane ls = %v", got)
	}
	if got := crane(t, "digest", "--insecure", reg.addr+"/crane/archives:v1"); strings.TrimSpace(got) != a.manifest.Digest.String() {
		t.Fatalf("crane digest = %q, want %s", got, a.manifest.Digest)
	}
	if got := crane(t, "blob", "--insecure", reg.addr+"/crane/archives@"+a.layers[0].Digest.String()); got != "layer crane downloads" {
		t.Fatalf("crane blob = %q", got)
	}
	crane(t, "copy", "--insecure", reg.addr+"/crane/archives:v1", reg.addr+"/crane/copied:moved")
	copied := openRemote(t, reg.location("crane/copied"), Options{})
	if got, err := copied.Resolve(ctx, "moved"); err != nil || got.Digest != a.manifest.Digest {
		t.Fatalf("resolve what crane copied = %s, %v", got.Digest, err)
	}

	// crane's own layout of what we pushed opens as our store.
	pulled := filepath.Join(t.TempDir(), "pulled")
	crane(t, "pull", "--insecure", "--format=oci", reg.addr+"/crane/archives:v1", pulled)
	theirs, err := OpenLocal(pulled, Options{})
	if err != nil {
		t.Fatalf("open crane's layout: %v", err)
	}
	if got, err := theirs.Resolve(ctx, a.manifest.Digest.String()); err != nil || got.MediaType != ocispec.MediaTypeImageManifest {
		t.Fatalf("resolve in crane's layout = %+v, %v", got, err)
	}
	for _, d := range a.all() {
		if err := Verify(ctx, theirs, d); err != nil {
			t.Fatalf("crane's layout: %v", err)
		}
	}
	checkConsistent(t, theirs)

	// Our layout, pushed by crane.
	local := openLocal(t, Options{})
	b := makeArchive(t, "layout", nil, "from our layout", "second")
	b.push(t, local, "layout")
	crane(t, "push", "--insecure", local.Root(), reg.addr+"/crane/from-layout:pushed")
	fromLayout := openRemote(t, reg.location("crane/from-layout"), Options{})
	got, err := fromLayout.Resolve(ctx, "pushed")
	if err != nil {
		t.Fatal(err)
	}
	// crane push of a layout pushes its index.json as an image index around our manifest.
	var pushedManifest ocispec.Descriptor
	switch got.MediaType {
	case ocispec.MediaTypeImageManifest:
		pushedManifest = got
	case ocispec.MediaTypeImageIndex:
		var idx ocispec.Index
		if err := jsonFetch(ctx, fromLayout, got, &idx); err != nil {
			t.Fatal(err)
		}
		if len(idx.Manifests) != 1 {
			t.Fatalf("crane pushed an index of %d manifests", len(idx.Manifests))
		}
		pushedManifest = idx.Manifests[0]
	default:
		t.Fatalf("crane pushed %s", got.MediaType)
	}
	if pushedManifest.Digest != b.manifest.Digest {
		t.Fatalf("crane pushed manifest %s, want %s", pushedManifest.Digest, b.manifest.Digest)
	}
	for _, d := range b.all() {
		if got := fetchAll(t, fromLayout, d); !bytes.Equal(got, b.blobs[d.Digest]) {
			t.Fatalf("blob %s pushed by crane differs", d.Digest)
		}
	}
}

func jsonFetch(ctx context.Context, s Store, d ocispec.Descriptor, v any) error {
	rc, err := s.Fetch(ctx, d)
	if err != nil {
		return err
	}
	defer rc.Close()
	return jsonDecode(rc, v)
}
