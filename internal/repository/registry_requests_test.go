package repository

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// An ingest to a registry asks once whether the blob is there, then uploads it (or not): a
// second HEAD for the same answer is a round trip per section for nothing.
func TestRegistryIngestAsksOnce(t *testing.T) {
	ctx := context.Background()
	reg := startRegistry(t, false)
	target, _ := url.Parse("http://" + reg.addr)
	var mu sync.Mutex
	heads := map[string]int{}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead && strings.Contains(r.URL.Path, "/blobs/") {
			mu.Lock()
			heads[r.URL.Path]++
			mu.Unlock()
		}
		proxy.ServeHTTP(w, r)
	}))
	defer srv.Close()
	s := openRemote(t, RemoteScheme+strings.TrimPrefix(srv.URL, "http://")+"/flarecast/archives", Options{})
	for _, content := range []string{"a new blob", "a new blob"} { // uploaded, then already there
		in, err := s.Ingest(ctx)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(in, content)
		if _, err := in.Commit(ctx, "application/octet-stream"); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for path, n := range heads {
		if n != 2 {
			t.Errorf("HEAD %s sent %d times for two ingests, want 2", path, n)
		}
	}
	if len(heads) != 1 {
		t.Errorf("HEADs %v, want one blob asked about", heads)
	}
}
