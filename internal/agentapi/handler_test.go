package agentapi

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/flarecast/flarecast/internal/installplan"
	"github.com/flarecast/flarecast/internal/testsupport/logbuf"
)

var (
	secret  = []byte("site secret of the test")
	n1      = NodeRef{Namespace: "ns", Cluster: "c1", Node: "n1"}
	n2      = NodeRef{Namespace: "ns", Cluster: "c1", Node: "n2"}
	waiting = NodeRef{Namespace: "ns", Cluster: "c1", Node: "n3"}
	noPlan  = NodeRef{Namespace: "ns", Cluster: "c1", Node: "n4"}
	ghost   = NodeRef{Namespace: "ns", Cluster: "c1", Node: "ghost"}
)

func tokenOf(r NodeRef) string { return installplan.Token(secret, r.Namespace, r.Cluster, r.Node) }

func newServer(t *testing.T) (*httptest.Server, *Memory, *logbuf.Buffer) {
	t.Helper()
	mem := NewMemory()
	mem.SetPlan(n1, installplan.PlanResponse{Action: installplan.ActionInstall, Plan: installplan.Plan{Version: installplan.Version, Node: "n1"},
		Archive: installplan.Archive{Name: "c1-g", Digest: "sha256:" + strings.Repeat("a", 64)}})
	mem.SetPlan(n2, installplan.PlanResponse{Action: installplan.ActionBootLocal, Plan: installplan.Plan{Node: "n2"}})
	mem.SetError(waiting, fmt.Errorf("group g has no deployable archive yet: %w", ErrNotReady))
	mem.SetError(noPlan, fmt.Errorf("archive c1-g holds no plan for node n4: %w", ErrNoPlan))
	logs := &logbuf.Buffer{}
	tokens := NewTokens(secret, append(mem.Nodes(), ghost))
	h, err := NewHandler(Options{Secret: secret, Plans: mem, Events: mem, Holder: tokens.Holder,
		Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, mem, logs
}

func do(t *testing.T, method, url, token string, body io.Reader) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func planURL(srv *httptest.Server, r NodeRef) string {
	return srv.URL + installplan.APIPrefix + "/nodes/" + r.Namespace + "/" + r.Cluster + "/" + r.Node + "/plan"
}

func eventsURL(srv *httptest.Server, r NodeRef) string {
	return strings.TrimSuffix(planURL(srv, r), "/plan") + "/events"
}

func TestPlanAnswersOnlyTheNodesOwnToken(t *testing.T) {
	srv, _, logs := newServer(t)
	for _, c := range []struct {
		name   string
		node   NodeRef
		token  string
		status int
		says   string
	}{
		{"own token", n1, tokenOf(n1), 200, `"action":"Install"`},
		{"boot local", n2, tokenOf(n2), 200, `"action":"BootLocal"`},
		{"no token", n1, "", 401, "no token"},
		{"token of no node", n1, "bm90IGEgdG9rZW4", 401, "nor any node's"},
		{"token of another secret", n1, installplan.Token([]byte("other"), "ns", "c1", "n1"), 401, "nor any node's"},
		{"token of another node", n1, tokenOf(n2), 403, "node ns/c1/n2's, not node ns/c1/n1's"},
		{"token of a node not in the model, for n1", n1, tokenOf(ghost), 403, "ns/c1/ghost"},
		{"own token, node not in the model", ghost, tokenOf(ghost), 404, "not in the model"},
		{"no deployable yet", waiting, tokenOf(waiting), 503, "no deployable archive yet"},
		{"archive without a plan", noPlan, tokenOf(noPlan), 409, "holds no plan"},
		{"malformed name", NodeRef{"ns", "C1", "n1"}, tokenOf(n1), 400, "malformed cluster name"},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, body := do(t, "GET", planURL(srv, c.node), c.token, nil)
			if resp.StatusCode != c.status || !strings.Contains(string(body), c.says) {
				t.Fatalf("got %d %s, want %d saying %q", resp.StatusCode, body, c.status, c.says)
			}
			if c.status != 200 {
				var e ErrorBody
				if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
					t.Errorf("error body %q is not an ErrorBody (%v)", body, err)
				}
			}
			if c.status == 503 && resp.Header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
			if c.status == 200 {
				var pr installplan.PlanResponse
				if err := json.Unmarshal(body, &pr); err != nil {
					t.Fatalf("plan does not decode: %v", err)
				}
				if resp.Header.Get("Cache-Control") != "no-store" {
					t.Error("plan may be cached")
				}
			}
		})
	}
	for _, r := range []NodeRef{n1, n2, ghost} {
		if strings.Contains(logs.String(), tokenOf(r)) {
			t.Errorf("the log holds node %s's token:\n%s", r, logs)
		}
	}
}

func TestEventIsRecordedForItsNode(t *testing.T) {
	srv, mem, _ := newServer(t)
	d := "sha256:" + strings.Repeat("b", 64)
	resp, body := do(t, "POST", eventsURL(srv, n1), tokenOf(n1),
		strings.NewReader(`{"phase":"Installing","step":"section archive","bytes":10,"total":100,"percent":10,"future":"ignored"}`))
	if resp.StatusCode != 204 {
		t.Fatalf("event: %d %s", resp.StatusCode, body)
	}
	resp, body = do(t, "POST", eventsURL(srv, n1), tokenOf(n1), strings.NewReader(`{"phase":"Running","installedDigest":"`+d+`"}`))
	if resp.StatusCode != 204 {
		t.Fatalf("event: %d %s", resp.StatusCode, body)
	}
	got := mem.Events()
	if len(got) != 2 || got[0].Node != n1 || got[0].Event.Percent != 10 || got[1].Event.InstalledDigest != d || got[0].From == "" {
		t.Fatalf("recorded %+v", got)
	}
}

func TestEventRefusals(t *testing.T) {
	srv, mem, _ := newServer(t)
	huge := `{"phase":"Installing","message":"` + strings.Repeat("x", installplan.MaxEventBytes) + `"}`
	for _, c := range []struct {
		name, token, body string
		node              NodeRef
		status            int
		says              string
	}{
		{"too long", tokenOf(n1), huge, n1, 413, "too large"},
		{"unknown phase", tokenOf(n1), `{"phase":"Dancing"}`, n1, 400, "phase"},
		{"no phase", tokenOf(n1), `{"percent":5}`, n1, 400, "phase"},
		{"percent past 100", tokenOf(n1), `{"phase":"Installing","percent":101}`, n1, 400, "percent"},
		{"negative bytes", tokenOf(n1), `{"phase":"Installing","bytes":-1}`, n1, 400, "negative"},
		{"bad digest", tokenOf(n1), `{"phase":"Running","installedDigest":"md5:00"}`, n1, 400, "installedDigest"},
		{"two values", tokenOf(n1), `{"phase":"Running"}{"phase":"Failed"}`, n1, 400, "more than one"},
		{"not JSON", tokenOf(n1), `phase=Running`, n1, 400, "not a JSON"},
		{"another node's token", tokenOf(n2), `{"phase":"Running"}`, n1, 403, "n2"},
		{"no token", "", `{"phase":"Running"}`, n1, 401, "no token"},
		{"node not in the model", tokenOf(ghost), `{"phase":"Running"}`, ghost, 404, "not in the model"},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, body := do(t, "POST", eventsURL(srv, c.node), c.token, strings.NewReader(c.body))
			if resp.StatusCode != c.status || !strings.Contains(string(body), c.says) {
				t.Fatalf("got %d %s, want %d saying %q", resp.StatusCode, body, c.status, c.says)
			}
		})
	}
	if n := len(mem.Events()); n != 0 {
		t.Fatalf("refused events were recorded: %+v", mem.Events())
	}
}

func TestWrongMethodIsRefused(t *testing.T) {
	srv, _, _ := newServer(t)
	resp, _ := do(t, "POST", planURL(srv, n1), tokenOf(n1), nil)
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST plan: %d", resp.StatusCode)
	}
}
