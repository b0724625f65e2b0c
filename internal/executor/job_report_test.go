package executor

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"
)

// The endpoint takes a job's progress only with that job's token, and only a bounded, well
// formed report.
func TestProgressReceiverTakesOnlyAJobsOwnReport(t *testing.T) {
	r, err := NewProgressReceiver([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r)
	defer srv.Close()
	put := func(path, token, body string) int {
		req, _ := http.NewRequest(http.MethodPut, srv.URL+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	own, other := r.Token("ns", "a"), r.Token("ns", "b")
	good := `{"stage":"download","bytes":10,"total":100}`
	for _, c := range []struct {
		name, path, token, body string
		want                    int
	}{
		{"no token", progressPath("ns", "a"), "", good, 401},
		{"another job's token", progressPath("ns", "a"), other, good, 401},
		{"same name, other namespace", progressPath("ns2", "a"), own, good, 401},
		{"unknown route", "/builds/ns/a", own, good, 404},
		{"not json", progressPath("ns", "a"), own, "stage=download", 400},
		{"unknown field", progressPath("ns", "a"), own, `{"stage":"x","evil":1}`, 400},
		{"negative bytes", progressPath("ns", "a"), own, `{"stage":"x","bytes":-1}`, 400},
		{"too large", progressPath("ns", "a"), own, `{"stage":"` + strings.Repeat("x", 8<<10) + `"}`, 413},
	} {
		if got := put(c.path, c.token, c.body); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
	if p := r.Latest("ns", "a"); p != nil {
		t.Fatalf("a refused report was kept: %+v", p)
	}
	if _, err := PushProgress(context.Background(), http.DefaultClient, srv.URL+progressPath("ns", "a"), own, Progress{Stage: "download", Bytes: 10, Total: 100}); err != nil {
		t.Fatal(err)
	}
	if p := r.Latest("ns", "a"); p == nil || *p != (Progress{Stage: "download", Bytes: 10, Total: 100}) {
		t.Fatalf("latest %+v", p)
	}
	// A resumed job hears it in the answer to its next report; another job does not.
	r.Resume("ns", "a")
	push := func(token, name string) Reply {
		t.Helper()
		reply, err := PushProgress(context.Background(), http.DefaultClient, srv.URL+progressPath("ns", name), token, Progress{Stage: "customize", Root: "/work/build-1/root"})
		if err != nil {
			t.Fatal(err)
		}
		return reply
	}
	if got := push(own, "a"); !got.Resume {
		t.Fatalf("the resumed job's answer: %+v", got)
	}
	if got := push(other, "b"); got.Resume {
		t.Fatalf("another job was told to resume: %+v", got)
	}
	if p := r.Latest("ns", "a"); p == nil || p.Root != "/work/build-1/root" {
		t.Fatalf("the paused build's root is not kept: %+v", p)
	}
	r.Forget("ns", "a")
	if p := r.Latest("ns", "a"); p != nil {
		t.Fatalf("forgotten job still has %+v", p)
	}
	if got := push(own, "a"); got.Resume {
		t.Fatalf("a forgotten job's resume stayed: %+v", got)
	}
	if _, err := NewProgressReceiver([]byte("short")); err == nil {
		t.Fatal("a short key was taken")
	}
}

// A long failure message is cut to the kubelet's bound and stays JSON with its reason; a
// message that is not an outcome (the kubelet's fallback to the log) is kept as text.
func TestOutcomeFitsTheTerminationMessage(t *testing.T) {
	long := strings.Repeat("é", 5000)
	b := EncodeOutcome(Outcome{Reason: "SourceTooLarge", Message: long})
	if len(b) > MaxTerminationMessage {
		t.Fatalf("%d bytes", len(b))
	}
	var o Outcome
	if err := json.Unmarshal(b, &o); err != nil || o.Reason != "SourceTooLarge" || !strings.HasSuffix(o.Message, "…") || !utf8.ValidString(o.Message) {
		t.Fatalf("%s: %v", b, err)
	}
	if got := decodeOutcome(string(b)); got != o {
		t.Fatalf("decode %+v", got)
	}
	// A reason longer than any CamelCase word cannot keep the message out, nor loop forever.
	if b := EncodeOutcome(Outcome{Reason: strings.Repeat("R", 5000), Message: long}); len(b) > MaxTerminationMessage {
		t.Fatalf("a long reason: %d bytes", len(b))
	}
	if got := decodeOutcome("panic: runtime error\n"); got != (Outcome{Message: "panic: runtime error"}) {
		t.Fatalf("log tail %+v", got)
	}
}
