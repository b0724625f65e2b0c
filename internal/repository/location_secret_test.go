package repository

import (
	"context"
	"strings"
	"testing"
)

// A password typed into a location (user:password@host) must not come back in an error, which
// ends up in terminals, CI logs and the manager's log: the location is refused, redacted, with
// the way to give credentials.
func TestLocationWithCredentialsIsRefusedWithoutEchoingThem(t *testing.T) {
	opts := Options{DockerConfig: dockerConfig(t, "example.invalid", "a", "b")}
	for _, loc := range []string{
		"oci://bob:s3cret@127.0.0.1:5000/archives",
		"oci://s3cret@127.0.0.1:5000/archives",
		"https://bob:s3cret@registry.example/archives",
	} {
		_, err := Open(context.Background(), loc, opts)
		if err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "docker login") {
			t.Errorf("open %s: %v; want a refusal that says how to log in and does not print the secret", loc, err)
		}
	}
	if _, err := OpenRemote(context.Background(), "bob:s3cret@127.0.0.1:5000/archives", opts); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("OpenRemote with credentials in the reference: %v", err)
	}
}
