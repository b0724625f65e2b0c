package agentapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/flarecast/flarecast/internal/installplan"
)

// ErrNotAsked: a node uploads a capture no FlashArchive asks of it (no such archive, one
// that captures another node, one already made): 409, nothing is stored.
var ErrNotAsked = errors.New("capture not asked of this node")

// CaptureSink packs a node's upload of its root file system (a tar stream) into the
// FlashArchive archive of the node's namespace. mounts are the mount points the node left
// empty (installplan.HeaderCaptureMounts). A body that ends early or is refused stores
// nothing: the error says why, and the node is asked again.
type CaptureSink interface {
	Capture(ctx context.Context, node NodeRef, archive string, body io.Reader, mounts []string) (installplan.CaptureResult, error)
}

// maxMountsHeader bounds the mount points header the handler reads.
const maxMountsHeader = 16 << 10

func (h *Handler) serveCapture(w http.ResponseWriter, r *http.Request) {
	ref, ok := h.authorize(w, r)
	if !ok {
		return
	}
	archive := r.PathValue("archive")
	if err := checkName("archive", archive); err != nil {
		h.fail(w, r, ref, http.StatusBadRequest, err.Error())
		return
	}
	if h.o.Captures == nil {
		h.fail(w, r, ref, http.StatusNotImplemented, "this install server takes no captures")
		return
	}
	mounts, err := parseMounts(r.Header.Get(installplan.HeaderCaptureMounts))
	if err != nil {
		h.fail(w, r, ref, http.StatusBadRequest, err.Error())
		return
	}
	res, err := h.o.Captures.Capture(r.Context(), ref, archive, r.Body, mounts)
	if err != nil {
		h.failErr(w, r, ref, "capture", err)
		return
	}
	body, _ := json.Marshal(res) // plain fields: cannot fail
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body)
	h.o.Log.Info("agentapi: capture stored", "node", ref.String(), "client", r.RemoteAddr, "archive", archive, "digest", res.Digest, "bytes", res.TarBytes)
}

// parseMounts reads the mount points header: relative paths, comma-separated.
func parseMounts(v string) ([]string, error) {
	if v == "" {
		return nil, nil
	}
	if len(v) > maxMountsHeader {
		return nil, fmt.Errorf("%s: more than %d bytes", installplan.HeaderCaptureMounts, maxMountsHeader)
	}
	var out []string
	for _, m := range strings.Split(v, ",") {
		m = strings.Trim(strings.TrimSpace(m), "/")
		if m == "" || m == ".." || strings.HasPrefix(m, "../") || strings.Contains(m, "/../") || strings.HasSuffix(m, "/..") {
			return nil, fmt.Errorf("%s: %q is not a path below the root", installplan.HeaderCaptureMounts, m)
		}
		out = append(out, m)
	}
	return out, nil
}

// Capture uploads body (a tar of the node's root) for the FlashArchive archive, once: a cut
// upload is not resent (the body is a stream); the install server asks again at the next
// plan. It goes to this client's own server, whatever URL a plan names, so that the token
// never leaves for another host. It has no total timeout: a root of gigabytes takes minutes.
func (c *Client) Capture(ctx context.Context, archive string, body io.Reader, mounts []string) (installplan.CaptureResult, error) {
	var res installplan.CaptureResult
	if err := checkName("archive", archive); err != nil {
		return res, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, c.CaptureURL(archive), body)
	if err != nil {
		return res, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/x-tar")
	if len(mounts) > 0 {
		req.Header.Set(installplan.HeaderCaptureMounts, strings.Join(mounts, ","))
	}
	hc := &http.Client{Transport: c.o.HTTP.Transport}
	resp, err := hc.Do(req)
	if err != nil {
		return res, fmt.Errorf("PUT capture %s of node %s: %w", archive, c.node, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBytes))
	if err != nil {
		return res, fmt.Errorf("PUT capture %s of node %s: read the answer: %w", archive, c.node, err)
	}
	if resp.StatusCode/100 != 2 {
		msg := strings.TrimSpace(string(b))
		var eb ErrorBody
		if json.Unmarshal(b, &eb) == nil && eb.Error != "" {
			msg = eb.Error
		}
		return res, fmt.Errorf("PUT capture %s of node %s: %w", archive, c.node, &StatusError{Code: resp.StatusCode, Message: msg})
	}
	if err := json.Unmarshal(b, &res); err != nil {
		return res, fmt.Errorf("PUT capture %s of node %s: decode: %w", archive, c.node, err)
	}
	return res, nil
}

// CaptureURL is where this client uploads a capture of archive.
func (c *Client) CaptureURL(archive string) string { return c.url("capture/" + archive) }
