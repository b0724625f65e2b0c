package build

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
)

// Stages of a build, as its progress reports them.
const (
	StageDownload = "download"
	StageRead     = "read"
	StagePack     = "pack"
)

// Progress is how far a build has got: the stage, the bytes it has read in it and, when the
// source declared it, how many there are.
type Progress struct {
	Stage string `json:"stage"`
	Bytes int64  `json:"bytes"`
	Total int64  `json:"total,omitempty"`
	// Root is, in the customize stage, the build root a person may change.
	Root string `json:"root,omitempty"`
}

func progressOf(report func(Progress), stage string, total int64) func(int64) {
	if report == nil {
		return func(int64) {}
	}
	return func(n int64) { report(Progress{Stage: stage, Bytes: n, Total: total}) }
}

// countingReader counts what is read through it and reports the running total.
type countingReader struct {
	r      io.Reader
	n      int64
	report func(int64)
	// read, when set, hears of every read that returned bytes (the idle timer).
	read func()
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.n += int64(n)
		if c.report != nil {
			c.report(c.n)
		}
		if c.read != nil {
			c.read()
		}
	}
	return n, err
}

// timeoutError is the cause a download's context is canceled with when one of its bounds
// passes.
type timeoutError struct {
	reason string
	after  time.Duration
	what   string
}

func (e *timeoutError) Error() string { return fmt.Sprintf("%s for %s", e.what, e.after) }

// download writes the body at rawURL to a file in workDir, positioned at its start, and
// returns it with the body's digest. Every step is bounded: the connection, the wait for
// the headers, each pause in the body, the whole download, and the size, declared or read.
func download(ctx context.Context, rawURL string, alg digest.Algorithm, lim Limits, workDir string, progress func(Progress)) (*os.File, digest.Digest, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, "", fmt.Errorf("rootfs %s: %w", rawURL, err)
	}
	if err := hostAllowed(u, lim.AllowHosts); err != nil {
		return nil, "", failure(ReasonSourceNotAllowed, 0, "rootfs %s: %v", rawURL, err)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	bound := func(d time.Duration, reason, what string) *time.Timer {
		return time.AfterFunc(d, func() { cancel(&timeoutError{reason: reason, after: d, what: what}) })
	}
	total := bound(lim.DownloadTimeout, ReasonDownloadTimeout, "the download took longer than its downloadTimeout")
	defer total.Stop()
	var mu sync.Mutex
	var header *time.Timer
	trace := &httptrace.ClientTrace{
		WroteRequest: func(httptrace.WroteRequestInfo) {
			mu.Lock()
			defer mu.Unlock()
			if header == nil {
				header = bound(lim.FirstByteTimeout, ReasonFirstByteTimeout, "the server sent no response headers")
			}
		},
		GotFirstResponseByte: func() {
			mu.Lock()
			defer mu.Unlock()
			if header != nil {
				header.Stop()
			}
		},
	}
	defer func() {
		mu.Lock()
		if header != nil {
			header.Stop()
		}
		mu.Unlock()
	}()
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, "", fmt.Errorf("rootfs %s: %w", rawURL, err)
	}
	client := httpClient(lim)
	var got int64
	fail := func(err error) error {
		var te *timeoutError
		if errors.As(context.Cause(ctx), &te) {
			return failure(te.reason, got, "rootfs %s: %s, after %s of the body", rawURL, te, sizeOf(got))
		}
		if f, ok := AsFailure(err); ok {
			return f
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return failure(ReasonConnectTimeout, got, "rootfs %s: no connection (TCP, then TLS) within the %s connectTimeout", rawURL, lim.ConnectTimeout)
		}
		return fmt.Errorf("rootfs %s: download: %w (after %s)", rawURL, err, sizeOf(got))
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, "", fail(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("rootfs %s: the server answered %s", rawURL, resp.Status)
	}
	if resp.ContentLength > lim.MaxSize {
		return nil, "", failure(ReasonSourceTooLarge, 0, "rootfs %s: the server declares %s, more than the %s maxSize allows; nothing was written", rawURL, sizeOf(resp.ContentLength), sizeOf(lim.MaxSize))
	}
	f, err := os.CreateTemp(workDir, "rootfs-*.download")
	if err != nil {
		return nil, "", fmt.Errorf("rootfs %s: %w", rawURL, err)
	}
	idle := bound(lim.IdleTimeout, ReasonIdleTimeout, "the server sent nothing")
	defer idle.Stop()
	report := progressOf(progress, StageDownload, max(resp.ContentLength, 0))
	body := &countingReader{r: io.LimitReader(resp.Body, lim.MaxSize+1),
		report: func(n int64) { got = n; report(n) },
		read:   func() { idle.Reset(lim.IdleTimeout) }}
	d := alg.Digester()
	_, err = io.Copy(io.MultiWriter(f, d.Hash()), body)
	if err == nil && got > lim.MaxSize {
		err = failure(ReasonSourceTooLarge, got, "rootfs %s: the body goes past the %s maxSize; stopped there", rawURL, sizeOf(lim.MaxSize))
	}
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, "", fail(err)
	}
	return f, d.Digest(), nil
}

// httpClient fetches with the connection bounded by the limits' connectTimeout and follows
// redirects only to http(s) URLs of allowed hosts.
func httpClient(lim Limits) *http.Client {
	dialer := &net.Dialer{Timeout: lim.ConnectTimeout, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         dialer.DialContext,
		TLSHandshakeTimeout: lim.ConnectTimeout,
		TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:   true,
	}
	return &http.Client{Transport: tr, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
			return fmt.Errorf("redirected to %s, which is not http(s)", req.URL.Redacted())
		}
		if err := hostAllowed(req.URL, lim.AllowHosts); err != nil {
			return failure(ReasonSourceNotAllowed, 0, "rootfs %s: redirected: %v", via[0].URL.Redacted(), err)
		}
		return nil
	}}
}

// hostAllowed checks u's host against the allowed hosts (any, when none is listed): a listed
// name allows every port of it, a listed host:port that port only.
func hostAllowed(u *url.URL, allowed []string) error {
	if len(allowed) == 0 {
		return nil
	}
	if slices.Contains(allowed, u.Hostname()) || slices.Contains(allowed, u.Host) {
		return nil
	}
	return fmt.Errorf("host %s is not one this manager allows http(s) sources from (--allow-source-host)", u.Host)
}
