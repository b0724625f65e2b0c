package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// resumingReader reads one blob over HTTP and, when the connection is cut, asks again from
// the byte it had reached (Range, with If-Range on the ETag of the first answer so that a
// blob that changed meanwhile is refused, never spliced). It hashes what it passes on, so
// the digest is known the moment the last byte is read.
type resumingReader struct {
	ctx    context.Context
	client *http.Client
	url    string
	size   int64 // what the plan says; the reader never passes on more
	// stallBudget bounds how long attempts in a row may bring no byte (an install server
	// that restarts comes back within it); backoff is the wait after the first failed
	// attempt, doubled up to 10 s.
	stallBudget time.Duration
	backoff     time.Duration
	onResume    func(offset int64, cause error)

	body       io.ReadCloser
	etag       string
	off        int64
	h          hash.Hash
	stalls     int
	stallStart time.Time
	resumes    int
}

func newResumingReader(ctx context.Context, client *http.Client, url string, size int64) *resumingReader {
	return &resumingReader{ctx: ctx, client: client, url: url, size: size, stallBudget: 5 * time.Minute, backoff: 200 * time.Millisecond, h: sha256.New()}
}

// errBlobChanged: the server answered a resumed request with other bytes than the first.
var errBlobChanged = errors.New("the blob changed between two requests")

// errRefused: the server refused the request (4xx); asking again gets the same answer.
var errRefused = errors.New("refused")

func (r *resumingReader) Read(p []byte) (int, error) {
	for {
		if r.off >= r.size {
			return 0, io.EOF
		}
		if r.body == nil {
			if err := r.open(); err != nil {
				if errors.Is(err, errBlobChanged) || errors.Is(err, errRefused) || r.ctx.Err() != nil || !r.stall(err) {
					return 0, err
				}
				continue
			}
		}
		if int64(len(p)) > r.size-r.off {
			p = p[:r.size-r.off]
		}
		n, err := r.body.Read(p)
		if n > 0 {
			r.h.Write(p[:n])
			r.off += int64(n)
			r.stalls = 0
		}
		if err == nil || (err == io.EOF && r.off >= r.size) {
			if n > 0 || err == nil {
				return n, nil
			}
			return 0, io.EOF
		}
		// A cut (io.ErrUnexpectedEOF, a reset) or a body that ended short: resume.
		r.body.Close()
		r.body = nil
		if err == io.EOF {
			err = fmt.Errorf("the answer ended at byte %d of %d", r.off, r.size)
		}
		if r.ctx.Err() != nil {
			return n, r.ctx.Err()
		}
		if n > 0 {
			r.resumes++
			if r.onResume != nil {
				r.onResume(r.off, err)
			}
			return n, nil
		}
		if !r.stall(err) {
			return 0, err
		}
	}
}

// stall counts an attempt that brought nothing and waits before the next; false when the
// reader gives up.
func (r *resumingReader) stall(err error) bool {
	if r.stalls == 0 {
		r.stallStart = time.Now()
	}
	r.stalls++
	if time.Since(r.stallStart) > r.stallBudget {
		return false
	}
	r.resumes++
	if r.onResume != nil {
		r.onResume(r.off, err)
	}
	wait := min(r.backoff<<min(r.stalls-1, 16), 10*time.Second)
	select {
	case <-r.ctx.Done():
		return false
	case <-time.After(wait):
		return true
	}
}

func (r *resumingReader) open() error {
	req, err := http.NewRequestWithContext(r.ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return err
	}
	if r.off > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(r.off, 10)+"-")
		if r.etag != "" {
			req.Header.Set("If-Range", r.etag)
		}
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return err
	}
	switch {
	case r.off == 0 && resp.StatusCode == http.StatusOK:
		r.etag = resp.Header.Get("ETag")
	case r.off > 0 && resp.StatusCode == http.StatusPartialContent:
		if start, ok := rangeStart(resp.Header.Get("Content-Range")); !ok || start != r.off {
			resp.Body.Close()
			return fmt.Errorf("asked for bytes from %d, the server sent %q", r.off, resp.Header.Get("Content-Range"))
		}
	case r.off > 0 && resp.StatusCode == http.StatusOK:
		// If-Range did not match: the server sends the whole of another blob.
		resp.Body.Close()
		return fmt.Errorf("resuming at byte %d: %w (ETag was %s, now %s)", r.off, errBlobChanged, r.etag, resp.Header.Get("ETag"))
	default:
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		msg := fmt.Sprintf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
		if resp.StatusCode/100 == 4 {
			return fmt.Errorf("%w: %s", errRefused, msg) // a 404 or a 416 does not heal by asking again
		}
		return errors.New(msg)
	}
	r.body = resp.Body
	return nil
}

// rangeStart reads the first byte of "bytes 100-199/200".
func rangeStart(v string) (int64, bool) {
	rest, ok := strings.CutPrefix(v, "bytes ")
	if !ok {
		return 0, false
	}
	first, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(first, 10, 64)
	return n, err == nil
}

// digest is "sha256:<hex>" of what was read.
func (r *resumingReader) digest() string { return "sha256:" + hex.EncodeToString(r.h.Sum(nil)) }

func (r *resumingReader) Close() error {
	if r.body != nil {
		return r.body.Close()
	}
	return nil
}
