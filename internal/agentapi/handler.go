package agentapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/flarecast/flarecast/internal/installplan"
)

// NodeRef names a node of the site: its Cluster's namespace and name, and its own name.
type NodeRef struct {
	Namespace string
	Cluster   string
	Node      string
}

func (r NodeRef) String() string { return r.Namespace + "/" + r.Cluster + "/" + r.Node }

// Errors a PlanSource or an EventSink returns (wrapped, with a message a person can act on),
// and the status each gives.
var (
	// ErrUnknownNode: the node is not in the model of the site (404).
	ErrUnknownNode = errors.New("node not in the model")
	// ErrNotReady: the node is known but what it needs does not exist yet (its group has no
	// deployable archive, or it is not built): 503 with Retry-After, the agent asks again.
	ErrNotReady = errors.New("not ready")
	// ErrNoPlan: the node's deployable archive carries no install plan for it (made by a
	// flarecast that did not render plans): 409, it takes a new archive, not a retry.
	ErrNoPlan = errors.New("no install plan in the archive")
)

// PlanSource gives a node's plan response.
type PlanSource interface {
	Plan(ctx context.Context, node NodeRef) (installplan.PlanResponse, error)
}

// EventSink takes a node's report. from is the client's address as the server saw it.
// ErrUnknownNode gives 404; any other error 500, and the agent sends the report again.
type EventSink interface {
	Event(ctx context.Context, node NodeRef, from string, ev installplan.Event) error
}

// Options configures a Handler.
type Options struct {
	// Secret is the site secret; a node's token is installplan.Token of it.
	Secret []byte
	Plans  PlanSource
	Events EventSink
	// Captures takes the uploads of PUT capture; nil answers them 501.
	Captures CaptureSink
	// Holder, when set, names the node of the site a token belongs to, so that another
	// node's token is told apart (403) from a token of no node (401). It is asked only about
	// tokens that are not the requested node's own; Tokens is an implementation.
	Holder func(token string) (NodeRef, bool)
	// RetryAfterSeconds is what a 503 tells the agent to wait (default 10).
	RetryAfterSeconds int
	Log               *slog.Logger
}

// Handler serves the agent API under installplan.APIPrefix.
type Handler struct {
	o   Options
	mux *http.ServeMux
}

var _ http.Handler = (*Handler)(nil)

// ErrorBody is the JSON body of every answer that is not a success.
type ErrorBody struct {
	Error string `json:"error"`
}

// NewHandler builds a Handler; a site secret, a plan source and an event sink are required.
func NewHandler(o Options) (*Handler, error) {
	if len(o.Secret) == 0 {
		return nil, errors.New("agentapi: no site secret")
	}
	if o.Plans == nil || o.Events == nil {
		return nil, errors.New("agentapi: a plan source and an event sink are required")
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.RetryAfterSeconds <= 0 {
		o.RetryAfterSeconds = 10
	}
	h := &Handler{o: o, mux: http.NewServeMux()}
	base := installplan.APIPrefix + "/nodes/{namespace}/{cluster}/{node}"
	h.mux.HandleFunc("GET "+base+"/plan", h.servePlan)
	h.mux.HandleFunc("POST "+base+"/events", h.serveEvent)
	h.mux.HandleFunc("PUT "+base+"/capture/{archive}", h.serveCapture)
	return h, nil
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *Handler) servePlan(w http.ResponseWriter, r *http.Request) {
	ref, ok := h.authorize(w, r)
	if !ok {
		return
	}
	resp, err := h.o.Plans.Plan(r.Context(), ref)
	if err != nil {
		h.failErr(w, r, ref, "plan", err)
		return
	}
	body, err := json.Marshal(resp)
	if err != nil {
		h.fail(w, r, ref, http.StatusInternalServerError, fmt.Sprintf("encode the plan of node %s: %v", ref, err))
		return
	}
	// The plan is the node's own, and changes with the model: no cache keeps it.
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body)
	h.o.Log.Info("agentapi: plan served", "node", ref.String(), "client", r.RemoteAddr, "action", resp.Action, "archive", resp.Archive.Digest)
}

func (h *Handler) serveEvent(w http.ResponseWriter, r *http.Request) {
	ref, ok := h.authorize(w, r)
	if !ok {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, installplan.MaxEventBytes)
	ev, err := DecodeEvent(r.Body)
	if err != nil {
		code := http.StatusBadRequest
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			code = http.StatusRequestEntityTooLarge
		}
		h.fail(w, r, ref, code, err.Error())
		return
	}
	if err := h.o.Events.Event(r.Context(), ref, r.RemoteAddr, ev); err != nil {
		h.failErr(w, r, ref, "event", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
	h.o.Log.Debug("agentapi: event taken", "node", ref.String(), "client", r.RemoteAddr, "phase", ev.Phase, "step", ev.Step)
}

// authorize checks the path and the token: 400 for a malformed name, 401 for a missing
// token or one of no node, 403 for another node's token. The comparison with the node's own
// token is constant-time; only a token that fails it is looked up, to choose 401 or 403.
func (h *Handler) authorize(w http.ResponseWriter, r *http.Request) (NodeRef, bool) {
	ref := NodeRef{Namespace: r.PathValue("namespace"), Cluster: r.PathValue("cluster"), Node: r.PathValue("node")}
	for _, p := range [][2]string{{"namespace", ref.Namespace}, {"cluster", ref.Cluster}, {"node", ref.Node}} {
		if err := checkName(p[0], p[1]); err != nil {
			h.fail(w, r, NodeRef{}, http.StatusBadRequest, err.Error())
			return ref, false
		}
	}
	token, ok := bearer(r.Header.Get("Authorization"))
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="flarecast"`)
		h.fail(w, r, ref, http.StatusUnauthorized, "no token: send Authorization: Bearer <the node's token> (flarecast.token on the kernel command line)")
		return ref, false
	}
	if installplan.TokenMatches(h.o.Secret, ref.Namespace, ref.Cluster, ref.Node, token) {
		return ref, true
	}
	if h.o.Holder != nil {
		if other, ok := h.o.Holder(token); ok && other != ref {
			h.fail(w, r, ref, http.StatusForbidden, fmt.Sprintf("the token is node %s's, not node %s's: each node uses its own", other, ref))
			return ref, false
		}
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="flarecast", error="invalid_token"`)
	h.fail(w, r, ref, http.StatusUnauthorized, fmt.Sprintf("the token is not node %s's, nor any node's of this site (a token of another site secret, or mistyped)", ref))
	return ref, false
}

// bearer takes the token of an Authorization header; the scheme is case-insensitive.
func bearer(v string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(v), " ")
	tok = strings.TrimSpace(tok)
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "", false
	}
	return tok, true
}

// checkName refuses what no namespace, Cluster or node can be called (a DNS subdomain of at
// most 253 characters), before the name goes anywhere else.
func checkName(what, v string) error {
	if v == "" || len(v) > 253 {
		return fmt.Errorf("malformed %s name in the path: want 1 to 253 characters", what)
	}
	for _, c := range v {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return fmt.Errorf("malformed %s name %q in the path: want lower-case letters, digits, '-' and '.'", what, v)
		}
	}
	return nil
}

func (h *Handler) failErr(w http.ResponseWriter, r *http.Request, ref NodeRef, what string, err error) {
	switch {
	case errors.Is(err, ErrUnknownNode):
		h.fail(w, r, ref, http.StatusNotFound, err.Error())
	case errors.Is(err, ErrNoPlan), errors.Is(err, ErrNotAsked):
		h.fail(w, r, ref, http.StatusConflict, err.Error())
	case errors.Is(err, ErrNotReady):
		w.Header().Set("Retry-After", strconv.Itoa(h.o.RetryAfterSeconds))
		h.fail(w, r, ref, http.StatusServiceUnavailable, err.Error())
	case errors.Is(err, context.Canceled):
		return
	default:
		h.fail(w, r, ref, http.StatusInternalServerError, fmt.Sprintf("%s of node %s: %v", what, ref, err))
	}
}

// fail answers with a JSON error body and logs the refusal (never the token: it is in a
// header, and no message here holds it).
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, ref NodeRef, code int, msg string) {
	b, _ := json.Marshal(ErrorBody{Error: msg})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
	h.o.Log.Info("agentapi: request refused", "method", r.Method, "path", r.URL.Path, "node", ref.Node, "client", r.RemoteAddr, "status", code, "reason", msg)
}
