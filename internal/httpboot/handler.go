package httpboot

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/go-logr/logr"
	"github.com/opencontainers/go-digest"
)

// ErrUnknownNode marks a script request for a node the install server does not serve (404).
var ErrUnknownNode = errors.New("unknown node")

// Scripts finds the boot script of a node by the key in its URL (/ipxe/{key}): the install
// server decides what the key is (the node's name, as its DHCP answer wrote it).
type Scripts interface {
	Script(ctx context.Context, key string) (Script, error)
}

// ScriptsFunc adapts a function to Scripts.
type ScriptsFunc func(ctx context.Context, key string) (Script, error)

// Script calls f.
func (f ScriptsFunc) Script(ctx context.Context, key string) (Script, error) { return f(ctx, key) }

// Options configures a Handler; a nil part leaves its routes answering 404.
type Options struct {
	Scripts Scripts
	// BootDir holds the static boot files; symlinks are followed only inside it.
	BootDir string
	Blobs   BlobSource
	Log     logr.Logger
}

// Handler serves scripts, boot files and blobs (see the package comment for the routes).
type Handler struct {
	mux     *http.ServeMux
	scripts Scripts
	boot    *os.Root
	blobs   BlobSource
	log     logr.Logger
}

var _ http.Handler = (*Handler)(nil)

// New builds a Handler. Close releases the boot directory.
func New(o Options) (*Handler, error) {
	h := &Handler{mux: http.NewServeMux(), scripts: o.Scripts, blobs: o.Blobs, log: o.Log}
	if o.BootDir != "" {
		root, err := os.OpenRoot(o.BootDir)
		if err != nil {
			return nil, fmt.Errorf("httpboot: open boot directory: %w", err)
		}
		h.boot = root
	}
	h.mux.HandleFunc("GET /ipxe/{key}", h.serveScript)
	h.mux.HandleFunc("GET /boot/{file...}", h.serveBootFile)
	h.mux.HandleFunc("GET /blobs/{digest}", h.serveBlob)
	return h, nil
}

// Close releases the boot directory.
func (h *Handler) Close() error {
	if h.boot != nil {
		return h.boot.Close()
	}
	return nil
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *Handler) serveScript(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	if h.scripts == nil {
		h.fail(w, r, http.StatusNotFound, "no boot scripts are served here")
		return
	}
	s, err := h.scripts.Script(r.Context(), key)
	if errors.Is(err, ErrUnknownNode) {
		h.fail(w, r, http.StatusNotFound, fmt.Sprintf("no node %q is served here", key))
		return
	}
	if err != nil {
		h.fail(w, r, http.StatusInternalServerError, fmt.Sprintf("boot script for %q: %v", key, err))
		return
	}
	body, err := s.Render()
	if err != nil {
		h.fail(w, r, http.StatusInternalServerError, err.Error())
		return
	}
	// The script holds the node's token: no cache keeps it.
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body)
	h.log.Info("served boot script", "node", s.Node, "client", r.RemoteAddr, "uefi", s.UEFI)
}

func (h *Handler) serveBootFile(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	if h.boot == nil {
		h.fail(w, r, http.StatusNotFound, "no boot files are served here")
		return
	}
	f, err := h.boot.Open(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			h.fail(w, r, http.StatusNotFound, fmt.Sprintf("no boot file %q", name))
			return
		}
		h.fail(w, r, http.StatusForbidden, fmt.Sprintf("boot file %q: %v", name, err))
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		h.fail(w, r, http.StatusNotFound, fmt.Sprintf("no boot file %q", name))
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	// Last-Modified, from the file, lets If-Range resume a cut download.
	http.ServeContent(w, r, "", fi.ModTime(), f)
	h.log.V(1).Info("served boot file", "file", name, "client", r.RemoteAddr, "range", r.Header.Get("Range"))
}

func (h *Handler) serveBlob(w http.ResponseWriter, r *http.Request) {
	raw := r.PathValue("digest")
	d, err := digest.Parse(raw)
	if err != nil {
		h.fail(w, r, http.StatusBadRequest, fmt.Sprintf("malformed digest %q: %v (want sha256:<64 hex digits>)", raw, err))
		return
	}
	if h.blobs == nil {
		h.fail(w, r, http.StatusNotFound, "no blobs are served here")
		return
	}
	f, err := h.blobs.OpenBlob(r.Context(), d)
	switch {
	case errors.Is(err, ErrBlobNotFound), errors.Is(err, fs.ErrNotExist):
		h.fail(w, r, http.StatusNotFound, fmt.Sprintf("no blob %s", d))
		return
	case errors.Is(err, context.Canceled):
		return
	case err != nil:
		h.fail(w, r, http.StatusBadGateway, fmt.Sprintf("blob %s: %v", d, err))
		return
	}
	defer f.Close()
	// The digest is a strong validator: If-Range with it resumes, anything else restarts.
	w.Header().Set("ETag", `"`+d.String()+`"`)
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	w.Header().Set("Content-Type", "application/octet-stream")
	http.ServeContent(w, r, "", time.Time{}, f)
	h.log.V(1).Info("served blob", "digest", d.String(), "client", r.RemoteAddr, "range", r.Header.Get("Range"))
}

// fail answers with a one-line reason a person can act on, and logs it.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, code int, msg string) {
	http.Error(w, msg, code)
	h.log.Info("request refused", "method", r.Method, "path", r.URL.Path, "client", r.RemoteAddr, "status", code, "reason", msg)
}
