package agentapi

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/flarecast/flarecast/internal/installplan"
)

// hashSink takes the captures of archive "proto" from node n1 and refuses every other one.
type hashSink struct {
	mu     sync.Mutex
	calls  []string
	mounts []string
}

func (s *hashSink) Capture(_ context.Context, node NodeRef, archive string, body io.Reader, mounts []string) (installplan.CaptureResult, error) {
	s.mu.Lock()
	s.calls = append(s.calls, node.Node+"/"+archive)
	s.mounts = mounts
	s.mu.Unlock()
	if node != n1 || archive != "proto" {
		return installplan.CaptureResult{}, fmt.Errorf("no FlashArchive %s captures node %s: %w", archive, node, ErrNotAsked)
	}
	h := sha256.New()
	n, err := io.Copy(h, body)
	if err != nil {
		return installplan.CaptureResult{}, err
	}
	return installplan.CaptureResult{Archive: archive, Digest: fmt.Sprintf("sha256:%x", h.Sum(nil)), TarBytes: n}, nil
}

func captureServer(t *testing.T, sink CaptureSink) *httptest.Server {
	t.Helper()
	mem := NewMemory()
	tokens := NewTokens(secret, []NodeRef{n1, n2})
	h, err := NewHandler(Options{Secret: secret, Plans: mem, Events: mem, Captures: sink, Holder: tokens.Holder, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func captureURL(srv *httptest.Server, r NodeRef, archive string) string {
	return srv.URL + installplan.APIPrefix + "/nodes/" + r.Namespace + "/" + r.Cluster + "/" + r.Node + "/capture/" + archive
}

// Every refusal of PUT capture answers before the sink sees the upload, with the status the
// other routes give for the same fault; the one upload asked for reaches it.
func TestCaptureRouteRefusesWhatItMustAndPassesTheRest(t *testing.T) {
	sink := &hashSink{}
	srv := captureServer(t, sink)
	bad := "Bearer " + strings.Repeat("x", 43)
	for _, tc := range []struct {
		name, url, auth, mounts string
		code                    int
		reaches                 bool
	}{
		{"no token", captureURL(srv, n1, "proto"), "", "", http.StatusUnauthorized, false},
		{"a token of no node", captureURL(srv, n1, "proto"), bad, "", http.StatusUnauthorized, false},
		{"another node's token", captureURL(srv, n1, "proto"), "Bearer " + tokenOf(n2), "", http.StatusForbidden, false},
		{"a malformed archive name", captureURL(srv, n1, "Proto_1"), "Bearer " + tokenOf(n1), "", http.StatusBadRequest, false},
		{"a mount point out of the root", captureURL(srv, n1, "proto"), "Bearer " + tokenOf(n1), "srv,../etc", http.StatusBadRequest, false},
		{"an archive that does not ask this node", captureURL(srv, n2, "proto"), "Bearer " + tokenOf(n2), "", http.StatusConflict, true},
		{"the capture asked for", captureURL(srv, n1, "proto"), "Bearer " + tokenOf(n1), "srv/data,boot", http.StatusOK, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink.mu.Lock()
			before := len(sink.calls)
			sink.mu.Unlock()
			req, _ := http.NewRequest(http.MethodPut, tc.url, strings.NewReader("tar bytes"))
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			if tc.mounts != "" {
				req.Header.Set(installplan.HeaderCaptureMounts, tc.mounts)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.code {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, body, tc.code)
			}
			sink.mu.Lock()
			reached := len(sink.calls) > before
			sink.mu.Unlock()
			if reached != tc.reaches {
				t.Fatalf("the sink was reached: %v, want %v", reached, tc.reaches)
			}
			if tc.code != http.StatusOK && !strings.Contains(string(body), `"error"`) {
				t.Fatalf("refusal without an error body: %s", body)
			}
		})
	}
	if !slices.Equal(sink.mounts, []string{"srv/data", "boot"}) {
		t.Fatalf("mounts %q reached the sink, want [srv/data boot]", sink.mounts)
	}
}

// The client uploads to its own server, and reads the result or the refusal.
func TestClientCaptureUploadsToItsOwnServer(t *testing.T) {
	srv := captureServer(t, &hashSink{})
	c, err := NewClient(srv.URL, n1, tokenOf(n1), ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Capture(context.Background(), "proto", strings.NewReader("tar bytes"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("sha256:%x", sha256.Sum256([]byte("tar bytes"))); res.Digest != want || res.TarBytes != 9 {
		t.Fatalf("result %+v, want digest %s of 9 bytes", res, want)
	}
	_, err = c.Capture(context.Background(), "other", strings.NewReader("x"), nil)
	var se *StatusError
	if !errors.As(err, &se) || se.Code != http.StatusConflict {
		t.Fatalf("capture of an archive not asked: %v, want 409", err)
	}
	noSink := captureServer(t, nil)
	c2, _ := NewClient(noSink.URL, n1, tokenOf(n1), ClientOptions{})
	if _, err := c2.Capture(context.Background(), "proto", strings.NewReader("x"), nil); !errors.As(err, &se) || se.Code != http.StatusNotImplemented {
		t.Fatalf("capture to a server without captures: %v, want 501", err)
	}
}
