package build

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// layoutRegistry serves an OCI layout's images by the distribution API's read routes, the
// way a registry does, except that it stalls where the test says: before the manifest's
// headers, or inside a blob's body after its first bytes.
func layoutRegistry(t *testing.T, dir, stall string) string {
	t.Helper()
	var idx ocispec.Index
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil || json.Unmarshal(b, &idx) != nil {
		t.Fatalf("layout index: %v", err)
	}
	done := make(chan struct{})
	hold := func(r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-done:
		}
	}
	blob := func(w http.ResponseWriter, r *http.Request, dgst, mediaType string) {
		data, err := os.ReadFile(filepath.Join(dir, "blobs", strings.Replace(dgst, ":", "/", 1)))
		if err != nil {
			http.Error(w, "blob unknown", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", mediaType)
		w.Header().Set("Docker-Content-Digest", dgst)
		w.Header().Set("Content-Length", itoa(len(data)))
		if stall == "blob" && mediaType == "application/octet-stream" {
			w.Write(data[:len(data)/2])
			w.(http.Flusher).Flush()
			hold(r)
			return
		}
		w.Write(data)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/v2/"), "/")
		switch {
		case r.URL.Path == "/v2/":
			w.WriteHeader(http.StatusOK)
		case len(parts) == 3 && parts[1] == "manifests":
			if stall == "manifest" {
				hold(r)
				return
			}
			for _, m := range idx.Manifests {
				if m.Annotations[ocispec.AnnotationRefName] == parts[2] || string(m.Digest) == parts[2] {
					blob(w, r, string(m.Digest), m.MediaType)
					return
				}
			}
			http.Error(w, "manifest unknown", http.StatusNotFound)
		case len(parts) == 3 && parts[1] == "blobs":
			blob(w, r, parts[2], "application/octet-stream")
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(func() { close(done); srv.CloseClientConnections(); srv.Close() })
	return strings.TrimPrefix(srv.URL, "http://")
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// A registry that never answers a manifest request, or stops in the middle of a layer, ends
// the build with the bound that stopped it, as a rootfs download does; the same registry
// without stalls builds.
func TestRegistryPullsAreBoundedByFirstByteAndIdleTimeouts(t *testing.T) {
	p, _ := rootfsTarGz(t)
	layout := imageLayout(t, p, "amd64")
	build := func(stall string) error {
		req := generic(t.TempDir(), "", "")
		req.Inputs.Rootfs, req.Inputs.Image = nil, &Image{Ref: layoutRegistry(t, layout, stall) + "/node:v1"}
		req.Limits.FirstByteTimeout, req.Limits.IdleTimeout = 2*time.Second, 2*time.Second
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, err := Run(ctx, req, opts(t))
		return err
	}
	if err := build(""); err != nil {
		t.Fatalf("the registry without stalls: %v", err)
	}
	for stall, want := range map[string][2]string{
		"manifest": {ReasonFirstByteTimeout, "the registry sent no response headers for 2s, after 0 B from the registry"},
		"blob":     {ReasonIdleTimeout, "the registry sent nothing for 2s, after "},
	} {
		err := build(stall)
		f, ok := AsFailure(err)
		if !ok || f.Reason != want[0] || !strings.Contains(f.Message, want[1]) {
			t.Errorf("stall in %s: %v, want %s: %q", stall, err, want[0], want[1])
		}
	}
}
