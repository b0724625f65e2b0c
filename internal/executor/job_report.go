package executor

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// A build pod has no token for the API server (its namespace's users must not get one
// through it), so it cannot write its own status. It tells the manager what it must in two
// ways that need no API access:
//   - its failure (reason and message) in the container's termination message, which the
//     kubelet copies into the pod's status, where it outlives a manager restart;
//   - its progress, pushed to the manager's build-progress endpoint with a token that names
//     one job. Progress is only a view: lost on a manager restart, it comes back with the
//     build's next report.

// TerminationLogPath is where the kubelet reads a container's termination message.
const TerminationLogPath = "/dev/termination-log"

// MaxTerminationMessage is the kubelet's bound on a termination message.
const MaxTerminationMessage = 4096

// Outcome is what a build writes to its termination log when it fails.
type Outcome struct {
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message"`
}

// EncodeOutcome renders o within the kubelet's bound, shortening the message (never the
// reason) so that the JSON stays whole.
func EncodeOutcome(o Outcome) []byte {
	if len(o.Reason) > 128 {
		// Reasons are CamelCase words; a longer one is not one, and must not crowd out the
		// message (or keep the JSON over the bound whatever the message).
		o.Reason = o.Reason[:128]
	}
	for {
		b, _ := json.Marshal(o)
		if len(b) <= MaxTerminationMessage || o.Message == "" {
			return b
		}
		over := len(b) - MaxTerminationMessage + len("…")
		if over >= len(o.Message) {
			o.Message = ""
			continue
		}
		o.Message = strings.ToValidUTF8(o.Message[:len(o.Message)-over], "") + "…"
	}
}

// decodeOutcome reads a termination message: a build's Outcome, or (when the build died
// before writing one and the kubelet fell back to the log) the tail of its log.
func decodeOutcome(msg string) Outcome {
	var o Outcome
	if err := json.Unmarshal([]byte(msg), &o); err == nil && o.Message != "" {
		return o
	}
	return Outcome{Message: strings.TrimSpace(msg)}
}

// progressPath is the endpoint's route for one job.
func progressPath(namespace, name string) string {
	return "/builds/" + namespace + "/" + name + "/progress"
}

// progressToken names one job: an HMAC of its namespace and name, so the manager keeps no
// table of tokens and a build can report for no other.
func progressToken(key []byte, namespace, name string) string {
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "flarecast build progress v1\x00%s\x00%s", namespace, name)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// ProgressReceiver is the manager's build-progress endpoint: builds PUT their progress, the
// Job executor reads the latest one of each job.
type ProgressReceiver struct {
	key []byte
	now func() time.Time

	mu   sync.Mutex
	seen map[string]seenProgress
	// resumed are the jobs whose pause ended: the answer to their next report says so.
	resumed map[string]bool
}

// Reply is the endpoint's answer to a report: a paused build is told to resume (a pod has no
// other way to hear of the archive's annotation).
type Reply struct {
	Resume bool `json:"resume,omitempty"`
}

type seenProgress struct {
	p  Progress
	at time.Time
}

// progressTTL drops what a job that went away last said.
const progressTTL = 10 * time.Minute

// maxProgressBody bounds one report.
const maxProgressBody = 4 << 10

// NewProgressReceiver returns a receiver whose tokens are keyed by key (at least 32 bytes).
func NewProgressReceiver(key []byte) (*ProgressReceiver, error) {
	if len(key) < 32 {
		return nil, fmt.Errorf("build progress: the key holds %d bytes, want at least 32", len(key))
	}
	return &ProgressReceiver{key: key, now: time.Now, seen: map[string]seenProgress{}, resumed: map[string]bool{}}, nil
}

// Token is the token of a job, for its pod.
func (r *ProgressReceiver) Token(namespace, name string) string {
	return progressToken(r.key, namespace, name)
}

// Latest returns the last progress a job reported.
func (r *ProgressReceiver) Latest(namespace, name string) *Progress {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.seen[namespace+"/"+name]
	if !ok {
		return nil
	}
	p := s.p
	return &p
}

// Forget drops a job's progress.
func (r *ProgressReceiver) Forget(namespace, name string) {
	r.mu.Lock()
	delete(r.seen, namespace+"/"+name)
	delete(r.resumed, namespace+"/"+name)
	r.mu.Unlock()
}

// Resume ends a job's pause: its next report is answered with the resume. Kept in memory
// only: after a restart the controller, which resumes on each pass while the annotation names
// the paused build, says it again.
func (r *ProgressReceiver) Resume(namespace, name string) {
	r.mu.Lock()
	r.resumed[namespace+"/"+name] = true
	r.mu.Unlock()
}

// ServeHTTP takes PUT /builds/NAMESPACE/NAME/progress with "Authorization: Bearer TOKEN".
func (r *ProgressReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	parts := strings.Split(strings.TrimPrefix(req.URL.Path, "/"), "/")
	if len(parts) != 4 || parts[0] != "builds" || parts[3] != "progress" || parts[1] == "" || parts[2] == "" {
		http.Error(w, "not found: the route is PUT /builds/NAMESPACE/NAME/progress", http.StatusNotFound)
		return
	}
	if req.Method != http.MethodPut {
		w.Header().Set("Allow", http.MethodPut)
		http.Error(w, "method not allowed: use PUT", http.StatusMethodNotAllowed)
		return
	}
	ns, name := parts[1], parts[2]
	tok, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
	if !ok || !hmac.Equal([]byte(tok), []byte(r.Token(ns, name))) {
		// Which of missing, wrong or another job's token is not said: a guesser learns nothing.
		http.Error(w, "unauthorized: no valid token for this build", http.StatusUnauthorized)
		return
	}
	var p Progress
	dec := json.NewDecoder(http.MaxBytesReader(w, req.Body, maxProgressBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, fmt.Sprintf("request too large: a progress report is at most %d bytes", maxProgressBody), http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "bad request: the body is not a progress report: "+err.Error(), http.StatusBadRequest)
		return
	}
	if p.Stage == "" || len(p.Stage) > 64 || p.Bytes < 0 || p.Total < 0 {
		http.Error(w, "bad request: a progress report has a stage (at most 64 bytes) and no negative byte counts", http.StatusBadRequest)
		return
	}
	now := r.now()
	r.mu.Lock()
	r.seen[ns+"/"+name] = seenProgress{p: p, at: now}
	for k, s := range r.seen {
		if now.Sub(s.at) > progressTTL {
			delete(r.seen, k)
			delete(r.resumed, k)
		}
	}
	resume := r.resumed[ns+"/"+name]
	r.mu.Unlock()
	if !resume {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(Reply{Resume: true})
}

// Serve listens on addr until ctx ends: a manager Runnable.
func (r *ProgressReceiver) Serve(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("build progress endpoint: %w", err)
	}
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("build progress endpoint: %w", err)
	}
	return nil
}

// PushProgress sends one report to a build-progress endpoint and returns its answer. It is
// best effort: a build never waits long on, or fails for, a view of itself.
func PushProgress(ctx context.Context, c *http.Client, url, token string, p Progress) (Reply, error) {
	b, _ := json.Marshal(p)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, url, strings.NewReader(string(b)))
	if err != nil {
		return Reply{}, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return Reply{}, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	switch resp.StatusCode {
	case http.StatusNoContent:
		return Reply{}, nil
	case http.StatusOK:
		var r Reply
		if err := json.Unmarshal(body, &r); err != nil {
			return Reply{}, fmt.Errorf("build progress endpoint: its answer is not a reply: %w", err)
		}
		return r, nil
	}
	return Reply{}, fmt.Errorf("build progress endpoint answered %s", resp.Status)
}
