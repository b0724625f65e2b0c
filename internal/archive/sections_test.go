package archive

import (
	"context"
	"os"
	"path/filepath"
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

// A deployable's cluster section is applied over the configuration section below it, so a
// cluster file may be neither a parent of a configuration file nor lie below one: derive
// refuses both, whether that configuration is the base's (read from the store) or given with
// the deployable, and the cluster file at the very path of a configuration file still wins.
func TestDeriveRefusesAClusterSectionThatCannotApplyOverTheConfiguration(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	createGeneric(t, s, "base", 1000)
	if _, err := Derive(ctx, s, DeriveOptions{Base: "base", Name: "conf", Type: Configured, Configuration: sampleConfiguration("a")}); err != nil {
		t.Fatal(err)
	}
	deployable := func(base string, conf *Configuration, files ...File) error {
		_, err := Derive(ctx, s, DeriveOptions{Base: base, Name: "dep", Type: Deployable, NodesGroup: "web",
			SoftwareLoad: sampleLoad(mustResolve(t, s, base)), Configuration: conf,
			Cluster: &ClusterSection{Files: files, Nodes: sampleCluster().Nodes}})
		return err
	}
	for name, tc := range map[string]struct {
		base string
		conf *Configuration
		file string
		want string
	}{
		"a parent of the base's configuration file":  {"conf", nil, "/etc/app", "must be a directory: configuration file /etc/app/app.conf"},
		"below the base's configuration file":        {"conf", nil, "/etc/motd/x", "lies below configuration file /etc/motd"},
		"a parent of a configuration file given now": {"base", sampleConfiguration("b"), "/etc/app", "must be a directory"},
	} {
		t.Run(name, func(t *testing.T) {
			err := deployable(tc.base, tc.conf, File{Path: tc.file, Data: []byte("x")})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Derive: %v, want it refused with %q", err, tc.want)
			}
		})
	}
	if err := deployable("conf", nil, File{Path: "/etc/motd", Data: []byte("cluster motd\n")}); err != nil {
		t.Fatalf("a cluster file at a configuration file's own path: %v", err)
	}
	dir := t.TempDir()
	if _, err := Extract(ctx, s, "dep", dir, ExtractOptions{Rootless: true}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "etc/motd")); string(b) != "cluster motd\n" {
		t.Fatalf("/etc/motd is %q, want the cluster section's", b)
	}
}
