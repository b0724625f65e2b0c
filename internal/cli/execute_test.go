package cli

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flarecast/flarecast/internal/repository"
)

// With -o json, stdout is JSON whatever happens: a failure before any output writes an error
// document (and still says it on stderr, with the same exit code); a command that wrote its
// result before failing keeps that result as its only output.
func TestJSONOutputOnFailure(t *testing.T) {
	repo := emptyRepository(t)
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"missing archive", []string{"archive", "--repo", repo, "info", "nope", "-o", "json"}, 1, "not found"},
		{"unusable repository", []string{"archive", "--repo", "ftp://x/y", "ls", "-o", "json"}, 1, "unknown scheme"},
		{"usage mistake", []string{"archive", "--repo", repo, "verify", "x", "--all", "-o", "json"}, 2, "not both"},
		{"missing build request", []string{"archive", "build", "--request", filepath.Join(repo, "none.json"), "-o", "json"}, 1, "--request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errs, code := run(t, nil, tc.args...)
			var doc struct {
				Error    string `json:"error"`
				ExitCode int    `json:"exitCode"`
			}
			if err := json.Unmarshal([]byte(out), &doc); err != nil {
				t.Fatalf("stdout is not JSON (%v): %q; stderr %q", err, out, errs)
			}
			if code != tc.code || doc.ExitCode != code || !strings.Contains(doc.Error, tc.want) || !strings.Contains(errs, tc.want) {
				t.Fatalf("exit %d (document says %d), want %d; error %q and stderr %q should say %q", code, doc.ExitCode, tc.code, doc.Error, errs, tc.want)
			}
		})
	}
	// verify writes its results, then fails: they stay the one JSON document.
	out, _, code := run(t, nil, "archive", "--repo", repo, "verify", "nope", "-o", "json")
	var results []struct {
		Archive string `json:"archive"`
		OK      bool   `json:"ok"`
	}
	if err := json.Unmarshal([]byte(out), &results); err != nil || code != 1 || len(results) != 1 || results[0].OK {
		t.Fatalf("verify of a missing archive: exit %d, %v, stdout %q", code, err, out)
	}
	// Text output gets no JSON.
	if out, _, _ := run(t, nil, "archive", "--repo", repo, "info", "nope"); out != "" {
		t.Fatalf("text mode failure wrote %q to stdout", out)
	}
}

// Lists in -o json are lists even when empty: a reader that iterates over them must not meet
// null.
func TestJSONListsAreNeverNull(t *testing.T) {
	repo := emptyRepository(t)
	for _, tc := range []struct {
		args []string
		list func(out []byte) (json.RawMessage, error)
	}{
		{[]string{"ls"}, func(out []byte) (json.RawMessage, error) { return out, nil }},
		{[]string{"verify", "--all"}, func(out []byte) (json.RawMessage, error) { return out, nil }},
		{[]string{"gc", "--dry-run"}, func(out []byte) (json.RawMessage, error) {
			var rep struct {
				Removed json.RawMessage `json:"removed"`
			}
			return rep.Removed, json.Unmarshal(out, &rep)
		}},
		{[]string{"gc"}, func(out []byte) (json.RawMessage, error) {
			var rep struct {
				Removed json.RawMessage `json:"removed"`
			}
			return rep.Removed, json.Unmarshal(out, &rep)
		}},
	} {
		out, errs, code := run(t, nil, append([]string{"archive", "--repo", repo, "-o", "json"}, tc.args...)...)
		list, err := tc.list([]byte(out))
		if code != 0 || err != nil || strings.TrimSpace(string(list)) != "[]" {
			t.Errorf("%v on an empty repository: exit %d, %v, list %s (stdout %q, stderr %q); want []", tc.args, code, err, list, out, errs)
		}
	}
}

// A password typed into --repo or a push destination is never printed back.
func TestCredentialsInALocationAreNotPrinted(t *testing.T) {
	secret := "oci://bob:s3cret@127.0.0.1:5000/archives"
	for _, args := range [][]string{
		{"archive", "--repo", secret, "ls"},
		{"archive", "--repo", secret, "gc", "-o", "json"},
		{"archive", "--repo", emptyRepository(t), "push", "base", secret},
	} {
		out, errs, code := run(t, nil, args...)
		if code != 1 || strings.Contains(out+errs, "s3cret") || !strings.Contains(errs, "docker login") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want a refusal that does not print the password", args, code, out, errs)
		}
	}
}

// emptyRepository makes a repository with no archive (no command makes one: a reader refuses
// a missing directory, a writer stores something).
func emptyRepository(t *testing.T) string {
	t.Helper()
	repo := filepath.Join(t.TempDir(), "repo")
	s, err := repository.OpenLocal(repo, repository.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	return repo
}
