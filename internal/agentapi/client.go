package agentapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/flarecast/flarecast/internal/installplan"
)

// MaxPlanBytes bounds a plan response the client reads: a plan is a few KiB (a node's NICs,
// disks and scripts, an archive's three sections); a server that sends more is not one.
const MaxPlanBytes = 1 << 20

// maxErrorBytes bounds the error body the client keeps for its message.
const maxErrorBytes = 4 << 10

// ClientOptions tunes a Client. The zero value retries for as long as the context lasts,
// from 500 ms up to 30 s between attempts.
type ClientOptions struct {
	// HTTP is the client to use; a client with a 30 s timeout per request by default.
	HTTP *http.Client
	// MinBackoff and MaxBackoff bound the wait between attempts, which doubles from the one
	// to the other; a Retry-After the server sends is honoured up to MaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// Attempts, when positive, bounds the attempts of one call; otherwise only the context does.
	Attempts int
	// OnRetry, when set, hears of each failed attempt that will be retried (for a log line:
	// the error never holds the token).
	OnRetry func(err error, wait time.Duration)
}

// Client is the agent's side of the agent API, for one node. It retries network errors, 5xx
// answers and 429 with a doubling backoff, and gives up at once on any other answer (a 401
// or 403 does not get better by asking again). Its errors never hold the token.
type Client struct {
	base  *url.URL
	node  NodeRef
	token string
	o     ClientOptions
}

// NewClient makes a client of the agent API at server (http://198.18.0.1:8080) for node.
func NewClient(server string, node NodeRef, token string, o ClientOptions) (*Client, error) {
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("agent API server %q: want http(s)://host[:port]", server)
	}
	if u.User != nil {
		return nil, fmt.Errorf("agent API server %q: credentials go in the token, not the URL", u.Redacted())
	}
	for _, p := range [][2]string{{"namespace", node.Namespace}, {"cluster", node.Cluster}, {"node", node.Node}} {
		if err := checkName(p[0], p[1]); err != nil {
			return nil, fmt.Errorf("agent API client: %w", err)
		}
	}
	if strings.TrimSpace(token) == "" {
		return nil, errors.New("agent API client: no token (flarecast.token= on the kernel command line)")
	}
	if o.HTTP == nil {
		o.HTTP = &http.Client{Timeout: 30 * time.Second}
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 500 * time.Millisecond
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(30*time.Second, o.MinBackoff)
	}
	return &Client{base: u, node: node, token: strings.TrimSpace(token), o: o}, nil
}

// Node is the node the client speaks for.
func (c *Client) Node() NodeRef { return c.node }

func (c *Client) url(route string) string {
	u := *c.base
	u.Path = strings.TrimSuffix(u.Path, "/") + installplan.APIPrefix + "/nodes/" +
		c.node.Namespace + "/" + c.node.Cluster + "/" + c.node.Node + "/" + route
	return u.String()
}

// Plan asks for the node's plan response.
func (c *Client) Plan(ctx context.Context) (installplan.PlanResponse, error) {
	var resp installplan.PlanResponse
	body, err := c.do(ctx, http.MethodGet, "plan", nil, MaxPlanBytes)
	if err != nil {
		return resp, err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&resp); err != nil {
		return resp, fmt.Errorf("plan of node %s: decode: %w", c.node, err)
	}
	if resp.Action != installplan.ActionBootLocal && resp.Plan.Version != installplan.Version {
		return resp, fmt.Errorf("plan of node %s: version %q, this agent reads %s", c.node, resp.Plan.Version, installplan.Version)
	}
	return resp, nil
}

// Report sends one event. It is checked first with the server's own rules: a malformed
// event is this agent's bug, never worth a retry.
func (c *Client) Report(ctx context.Context, ev installplan.Event) error {
	if len(ev.Output) > maxOutputTail {
		ev.Output = ev.Output[len(ev.Output)-maxOutputTail:]
	}
	if err := CheckEvent(ev); err != nil {
		return err
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	if len(b) > installplan.MaxEventBytes {
		return fmt.Errorf("event of %d bytes is more than the %d the server takes", len(b), installplan.MaxEventBytes)
	}
	_, err = c.do(ctx, http.MethodPost, "events", b, maxErrorBytes)
	return err
}

// maxOutputTail is how much of a script's output an event carries: its tail, well inside
// MaxEventBytes with the rest of the event.
const maxOutputTail = 16 << 10

// StatusError is an answer of the server that is not a success.
type StatusError struct {
	Code    int
	Message string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Code, http.StatusText(e.Code), e.Message)
}

func retriable(code int) bool { return code >= 500 || code == http.StatusTooManyRequests }

func (c *Client) do(ctx context.Context, method, route string, body []byte, limit int64) ([]byte, error) {
	wait := c.o.MinBackoff
	for attempt := 1; ; attempt++ {
		out, retryAfter, err := c.once(ctx, method, route, body, limit)
		if err == nil {
			return out, nil
		}
		err = fmt.Errorf("%s %s of node %s: %w", method, route, c.node, err)
		var se *StatusError
		if errors.As(err, &se) && !retriable(se.Code) || ctx.Err() != nil {
			return nil, err
		}
		if c.o.Attempts > 0 && attempt >= c.o.Attempts {
			return nil, fmt.Errorf("%w (gave up after %d attempts)", err, attempt)
		}
		sleep := wait
		if retryAfter > 0 {
			sleep = min(retryAfter, c.o.MaxBackoff)
		}
		if c.o.OnRetry != nil {
			c.o.OnRetry(err, sleep)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (then %w)", err, ctx.Err())
		case <-time.After(sleep):
		}
		wait = min(2*wait, c.o.MaxBackoff)
	}
}

// once makes one request. Its error is the server's answer (StatusError) or the transport's,
// whose *url.Error names the URL, which holds no secret: the token is only in a header.
func (c *Client) once(ctx context.Context, method, route string, body []byte, limit int64) ([]byte, time.Duration, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.url(route), rd)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.o.HTTP.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBytes))
		msg := strings.TrimSpace(string(b))
		var eb ErrorBody
		if json.Unmarshal(b, &eb) == nil && eb.Error != "" {
			msg = eb.Error
		}
		var after time.Duration
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			after = time.Duration(s) * time.Second
		}
		return nil, after, &StatusError{Code: resp.StatusCode, Message: msg}
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, 0, fmt.Errorf("read the answer: %w", err)
	}
	if int64(len(b)) > limit {
		return nil, 0, &StatusError{Code: resp.StatusCode, Message: fmt.Sprintf("the answer is larger than the %d bytes a client reads", limit)}
	}
	return b, 0, nil
}
