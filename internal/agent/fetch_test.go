package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"path"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flarecast/flarecast/internal/archive"
)

// cuttingServer serves blob with Range like httpboot does (http.ServeContent, ETag), and
// drops the connection of the first full request after cutAt bytes.
func cuttingServer(t *testing.T, blob []byte, cutAt int) (*httptest.Server, *[]string) {
	t.Helper()
	var mu sync.Mutex
	var ranges []string
	cut := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ranges = append(ranges, r.Header.Get("Range"))
		first := !cut && r.Header.Get("Range") == ""
		cut = cut || first
		mu.Unlock()
		w.Header().Set("ETag", `"v1"`)
		if first && cutAt > 0 {
			w.Header().Set("Content-Length", strconv.Itoa(len(blob)))
			w.Write(blob[:cutAt])
			w.(http.Flusher).Flush()
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
			return
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(blob))
	}))
	t.Cleanup(srv.Close)
	return srv, &ranges
}

func TestADownloadCutMidwayResumesFromTheByteItReached(t *testing.T) {
	blob := bytes.Repeat([]byte("flarecast section bytes "), 40000) // ~960 KB
	srv, ranges := cuttingServer(t, blob, 300000)
	r := newResumingReader(context.Background(), srv.Client(), srv.URL+"/blobs/x", int64(len(blob)))
	r.backoff = time.Millisecond
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(blob)
	if !bytes.Equal(got, blob) || r.digest() != "sha256:"+hex.EncodeToString(sum[:]) {
		t.Fatalf("read %d bytes, digest %s", len(got), r.digest())
	}
	if len(*ranges) != 2 || (*ranges)[1] != "bytes=300000-" || r.resumes != 1 {
		t.Fatalf("requests with ranges %q, %d resumes: want one more from byte 300000", *ranges, r.resumes)
	}
}

func TestAResumeThatMeetsAnotherBlobIsRefused(t *testing.T) {
	blob := bytes.Repeat([]byte("x"), 100000)
	etag := `"v1"`
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		w.Header().Set("ETag", etag)
		if calls == 1 {
			w.Header().Set("Content-Length", "100000")
			w.Write(blob[:1000])
			w.(http.Flusher).Flush()
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
			return
		}
		etag = `"v2"` // the blob was replaced: If-Range no longer matches, the server sends it all
		w.Header().Set("ETag", etag)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(blob))
	}))
	defer srv.Close()
	r := newResumingReader(context.Background(), srv.Client(), srv.URL, int64(len(blob)))
	r.backoff = time.Millisecond
	if _, err := io.ReadAll(r); err == nil || !strings.Contains(err.Error(), "the blob changed between two requests") {
		t.Fatalf("got %v", err)
	}
}

func TestABlobTheServerRefusesIsNotAskedForAgainAndAgain(t *testing.T) {
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		http.Error(w, "no blob sha256:00", http.StatusNotFound)
	}))
	defer srv.Close()
	r := newResumingReader(context.Background(), srv.Client(), srv.URL, 10)
	if _, err := io.ReadAll(r); err == nil || !strings.Contains(err.Error(), "404 Not Found: no blob sha256:00") || calls != 1 {
		t.Fatalf("got %v after %d calls", err, calls)
	}
}

// The agent reads the installed tree at the places the archive package writes them.
func TestTheAgentReadsTheSectionsWhereTheArchiveWritesThem(t *testing.T) {
	if want := path.Join(archive.ConfigurationDir, "configuration.json")[1:]; ConfigurationManifest != want {
		t.Errorf("ConfigurationManifest %s, the archive writes %s", ConfigurationManifest, want)
	}
	if StageFirstBoot != string(archive.StageFirstBoot) {
		t.Errorf("StageFirstBoot %s", StageFirstBoot)
	}
}

// An install server that goes away for a while (a restart) is waited for, within the stall
// budget, and the download goes on from where it was.
func TestADownloadWaitsForAServerThatComesBack(t *testing.T) {
	blob := bytes.Repeat([]byte("0123456789"), 50000)
	var mu sync.Mutex
	down := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.Header.Get("Range") == "" {
			w.Header().Set("ETag", `"v1"`)
			w.Header().Set("Content-Length", strconv.Itoa(len(blob)))
			w.Write(blob[:200000])
			w.(http.Flusher).Flush()
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
			return
		}
		if down < 4 { // four attempts meet a server that answers nothing useful
			down++
			http.Error(w, "restarting", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("ETag", `"v1"`)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(blob))
	}))
	defer srv.Close()
	r := newResumingReader(context.Background(), srv.Client(), srv.URL, int64(len(blob)))
	r.backoff = time.Millisecond
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, blob) {
		t.Fatalf("read %d bytes: %v", len(got), err)
	}
	// With no budget left, the same outage fails the download.
	down = 0
	r = newResumingReader(context.Background(), srv.Client(), srv.URL, int64(len(blob)))
	r.backoff, r.stallBudget = 5*time.Millisecond, 2*time.Millisecond
	if _, err := io.ReadAll(r); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("past the stall budget: %v", err)
	}
}
