package executor

import (
	"strings"
	"testing"
)

func TestNewJobRefusesWhatABuildPodCouldNotUse(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts JobOptions
		want string
	}{
		{"no image", JobOptions{}, "an image is required"},
		{"a claim mounted at a relative path", JobOptions{Image: "i", RepositoryClaim: "c", RepositoryPath: "./repo"}, "must be absolute"},
		{"a registry needs no claim", JobOptions{Image: "i"}, ""},
		{"a claim at an absolute path", JobOptions{Image: "i", RepositoryClaim: "c", RepositoryPath: "/var/lib/flarecast/repo"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewJob(tc.opts)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("NewJob: %v, want %q", err, tc.want)
			}
		})
	}
}

// A build pod gets no service-account token: it never talks to the API server, so a
// compromised build (it unpacks outside input) has no credentials to use.
func TestBuildPodsMountNoServiceAccountToken(t *testing.T) {
	e, err := NewJob(JobOptions{Image: "i"})
	if err != nil {
		t.Fatal(err)
	}
	pod := e.JobFor(Spec{Namespace: "ns", Name: "base-build-0123456789"}).Spec.Template.Spec
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Fatalf("automountServiceAccountToken %v, want false", pod.AutomountServiceAccountToken)
	}
}
