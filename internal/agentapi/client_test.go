package agentapi

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flarecast/flarecast/internal/installplan"
)

func fastClient(t *testing.T, server string, node NodeRef, token string) *Client {
	t.Helper()
	c, err := NewClient(server, node, token, ClientOptions{MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond, Attempts: 5})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClientGetsItsPlanAndReportsThroughTheRealHandler(t *testing.T) {
	srv, mem, _ := newServer(t)
	c := fastClient(t, srv.URL, n1, tokenOf(n1))
	resp, err := c.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if resp.Action != installplan.ActionInstall || resp.Plan.Node != "n1" || resp.Archive.Name != "c1-g" {
		t.Fatalf("plan %+v", resp)
	}
	code := int32(3)
	if err := c.Report(context.Background(), installplan.Event{Phase: installplan.PhaseFailed, Step: "script x", ExitCode: &code,
		Output: strings.Repeat("o", 100<<10) + "the end"}); err != nil {
		t.Fatal(err)
	}
	evs := mem.Events()
	if len(evs) != 1 || evs[0].Node != n1 || evs[0].Event.Step != "script x" || *evs[0].Event.ExitCode != 3 {
		t.Fatalf("events %+v", evs)
	}
	if out := evs[0].Event.Output; len(out) != maxOutputTail || !strings.HasSuffix(out, "the end") {
		t.Fatalf("the output's tail is %d bytes ending %q", len(out), out[len(out)-10:])
	}
}

func TestClientGivesUpAtOnceOnRefusalsAndNeverShowsTheToken(t *testing.T) {
	srv, _, _ := newServer(t)
	for name, c := range map[string]struct {
		node  NodeRef
		token string
		code  int
	}{
		"a token of no node":   {n1, "not-a-token-of-this-site", http.StatusUnauthorized},
		"another node's token": {n1, tokenOf(n2), http.StatusForbidden},
		"a node not in model":  {ghost, tokenOf(ghost), http.StatusNotFound},
		"no plan in archive":   {noPlan, tokenOf(noPlan), http.StatusConflict},
	} {
		t.Run(name, func(t *testing.T) {
			var retries int
			cl, err := NewClient(srv.URL, c.node, c.token, ClientOptions{MinBackoff: time.Millisecond, Attempts: 5,
				OnRetry: func(error, time.Duration) { retries++ }})
			if err != nil {
				t.Fatal(err)
			}
			_, err = cl.Plan(context.Background())
			var se *StatusError
			if !errors.As(err, &se) || se.Code != c.code || retries != 0 {
				t.Fatalf("got %v after %d retries, want %d at once", err, retries, c.code)
			}
			if strings.Contains(err.Error(), c.token) {
				t.Fatalf("the error shows the token: %v", err)
			}
		})
	}
}

func TestClientRetriesUntilTheServerComesAndHonoursRetryAfter(t *testing.T) {
	// The address of a server that is not there yet: the first attempts are refused.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	srv, mem, _ := newServer(t)
	var calls atomic.Int32
	var retried []error
	cl, err := NewClient("http://"+addr, n1, tokenOf(n1), ClientOptions{MinBackoff: 5 * time.Millisecond, MaxBackoff: 40 * time.Millisecond,
		OnRetry: func(err error, _ time.Duration) {
			retried = append(retried, err)
			if len(retried) == 3 { // the server comes up, and is busy once
				l, err := net.Listen("tcp", addr)
				if err != nil {
					t.Error(err)
					return
				}
				go http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if calls.Add(1) == 1 {
						w.Header().Set("Retry-After", "1")
						http.Error(w, `{"error":"busy"}`, http.StatusServiceUnavailable)
						return
					}
					srv.Config.Handler.ServeHTTP(w, r)
				}))
				t.Cleanup(func() { l.Close() })
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := cl.Report(ctx, installplan.Event{Phase: installplan.PhaseBooting}); err != nil {
		t.Fatal(err)
	}
	if len(retried) != 4 || !strings.Contains(retried[3].Error(), "503") || !strings.Contains(retried[0].Error(), "connection refused") {
		t.Fatalf("retried on %v", retried)
	}
	// Retry-After: 1 is capped by MaxBackoff; the wait was the cap, not a second.
	if time.Since(start) > 900*time.Millisecond {
		t.Fatalf("took %s: Retry-After was not capped", time.Since(start))
	}
	if evs := mem.Events(); len(evs) != 1 || evs[0].Event.Phase != installplan.PhaseBooting {
		t.Fatalf("events %+v", evs)
	}
}

func TestClientRefusesAnOversizedPlan(t *testing.T) {
	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"action":"Install","plan":{"version":"` + strings.Repeat("x", MaxPlanBytes) + `"}}`))
	}))
	defer big.Close()
	_, err := fastClient(t, big.URL, n1, tokenOf(n1)).Plan(context.Background())
	if err == nil || !strings.Contains(err.Error(), "larger than the 1048576 bytes") {
		t.Fatalf("got %v", err)
	}
}

func TestNewClientRefusesWhatCannotWork(t *testing.T) {
	for _, c := range []struct{ server, token, want string }{
		{"ftp://x", "t", "want http(s)"},
		{"http://user:pw@x", "t", "credentials go in the token"},
		{"http://x", " ", "no token"},
	} {
		if _, err := NewClient(c.server, n1, c.token, ClientOptions{}); err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "pw") {
			t.Errorf("%s: %v, want %q", c.server, err, c.want)
		}
	}
}
