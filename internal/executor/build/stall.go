package build

import (
	"context"
	"io"
	"net/http"
	"sync/atomic"
	"time"
)

// stallGuard bounds every request of a registry pull: the wait for its response headers
// (firstByteTimeout) and each pause in its body (idleTimeout). A pull is many requests (a
// token, the manifests, each layer), so the bounds apply to each; the build timeout bounds
// the whole. The guard keeps the first bound that tripped, so the build can fail with its
// reason rather than the "context canceled" the registry client returns.
type stallGuard struct {
	base            http.RoundTripper
	firstByte, idle time.Duration
	tripped         atomic.Pointer[timeoutError]
	// bytes counts the bodies read, for the message of a bound that tripped.
	bytes atomic.Int64
}

func newStallGuard(base http.RoundTripper, lim Limits) *stallGuard {
	return &stallGuard{base: base, firstByte: lim.FirstByteTimeout, idle: lim.IdleTimeout}
}

// client wraps c's transport with the guard.
func (g *stallGuard) client(c *http.Client) *http.Client {
	out := *c
	g.base = c.Transport
	out.Transport = g
	return &out
}

func (g *stallGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(req.Context())
	trip := func(reason, what string, after time.Duration) func() {
		return func() {
			te := &timeoutError{reason: reason, after: after, what: what}
			g.tripped.CompareAndSwap(nil, te)
			cancel(te)
		}
	}
	headers := time.AfterFunc(g.firstByte, trip(ReasonFirstByteTimeout, "the registry sent no response headers", g.firstByte))
	resp, err := g.base.RoundTrip(req.WithContext(ctx))
	headers.Stop()
	if err != nil {
		cancel(nil)
		return nil, err
	}
	idle := time.AfterFunc(g.idle, trip(ReasonIdleTimeout, "the registry sent nothing", g.idle))
	resp.Body = &idleBody{ReadCloser: resp.Body, g: g, idle: idle, end: func() { idle.Stop(); cancel(nil) }}
	return resp, nil
}

// failure turns err into the failure of the bound that tripped, if one did.
func (g *stallGuard) failure(err error, what string) error {
	if err == nil {
		return nil
	}
	if te := g.tripped.Load(); te != nil {
		got := g.bytes.Load()
		return failure(te.reason, got, "%s: %s, after %s from the registry", what, te, sizeOf(got))
	}
	return err
}

type idleBody struct {
	io.ReadCloser
	g    *stallGuard
	idle *time.Timer
	end  func()
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.idle.Reset(b.g.idle)
		b.g.bytes.Add(int64(n))
	}
	return n, err
}

func (b *idleBody) Close() error {
	b.end()
	return b.ReadCloser.Close()
}
