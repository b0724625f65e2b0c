package archive

import (
	"context"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// A section's tar holds its files and, under /var/lib/flarecast, its own: a file at a path that
// must be a directory for another of them (an ancestor of the reserved directory, or of another
// file) makes an archive that no extraction can apply. Derive refuses it up front.
func TestDeriveRefusesAFileWhereADirectoryMustBe(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	createGeneric(t, s, "base", 1000)
	for name, files := range map[string][]File{
		"ancestor of the reserved directory": {{Path: "/var/lib", Data: []byte("x")}},
		"ancestor of another file":           {{Path: "/etc/app", Data: []byte("x")}, {Path: "/etc/app/app.conf", Data: []byte("y")}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Derive(ctx, s, DeriveOptions{Base: "base", Name: "x", Type: Configured, Configuration: &Configuration{Files: files}})
			if err == nil || !strings.Contains(err.Error(), "must be a directory") {
				if err == nil {
					_, xerr := Extract(ctx, s, "x", t.TempDir(), ExtractOptions{})
					t.Fatalf("Derive accepted it; extracting the result: %v", xerr)
				}
				t.Fatalf("Derive: %v, want it refused", err)
			}
		})
	}
	_, err := Derive(ctx, s, DeriveOptions{Base: "base", Name: "dep", Type: Deployable, NodesGroup: "web", SoftwareLoad: sampleLoad(mustResolve(t, s, "base")),
		Cluster: &ClusterSection{Files: []File{{Path: "/var", Data: []byte("x")}}}})
	if err == nil || !strings.Contains(err.Error(), "must be a directory") {
		t.Fatalf("Derive of a cluster file at /var: %v, want it refused", err)
	}
}

func mustResolve(t *testing.T, s interface {
	Resolve(context.Context, string) (ocispec.Descriptor, error)
}, ref string) digest.Digest {
	t.Helper()
	d, err := s.Resolve(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	return d.Digest
}
