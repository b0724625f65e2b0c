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
