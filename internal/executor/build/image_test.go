package build

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/flarecast/flarecast/internal/archive"
	"github.com/flarecast/flarecast/internal/image/imagetest"
	"github.com/flarecast/flarecast/internal/repository"
)

// imageLayout is an OCI layout whose one image has the gzip tarball at layer as its layer.
func imageLayout(t *testing.T, layer, arch string) string {
	t.Helper()
	gz, err := os.ReadFile(layer)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return imagetest.Layout(t, arch, "v1", gz, digest.FromBytes(plain))
}

func TestAnImageOfOneLayerPacksLikeThatLayersTarball(t *testing.T) {
	ctx := context.Background()
	p, d := rootfsTarGz(t)
	layout := imageLayout(t, p, "amd64")
	repo := t.TempDir()
	fromRootfs, err := Run(ctx, generic(repo, "file://"+p, d), opts(t))
	if err != nil {
		t.Fatal(err)
	}
	req := generic(repo, "", "")
	req.Tag = "ns.image"
	req.Inputs.Rootfs, req.Inputs.Image = nil, &Image{Ref: "oci:" + layout + ":v1"}
	fromImage, err := Run(ctx, req, opts(t))
	if err != nil {
		t.Fatal(err)
	}
	// The same tree, whether it came as a tarball or as an image's layer.
	if fromImage.Sections[1].Digest != fromRootfs.Sections[1].Digest {
		t.Fatalf("binary sections: image %s, rootfs %s", fromImage.Sections[1].Digest, fromRootfs.Sections[1].Digest)
	}
	store, err := repository.Open(ctx, repo, repository.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	a, err := archive.Load(ctx, store, "ns.image")
	if err != nil {
		t.Fatal(err)
	}
	in := a.Config.Inputs
	if in[InputImageRef] != "oci:"+layout+":v1" || !strings.HasPrefix(in[InputImageDigest], "sha256:") ||
		in[InputImageConfig] != `{"env":["PATH=/usr/bin"],"entrypoint":["/usr/bin/hello"]}` {
		t.Fatalf("creation inputs: %v", in)
	}

	// Built again from the same image: the same archive.
	again, err := Run(ctx, req, opts(t))
	if err != nil {
		t.Fatal(err)
	}
	if again.Digest != fromImage.Digest {
		t.Fatalf("two builds of one image: %s and %s", fromImage.Digest, again.Digest)
	}
}

func TestImageSourcesFollowTheSourceRules(t *testing.T) {
	ctx := context.Background()
	p, _ := rootfsTarGz(t)
	layout := imageLayout(t, p, "amd64")
	for name, c := range map[string]struct {
		ref    string
		limits Limits
		want   string
	}{
		"a layout outside the allowed directories": {"oci:" + layout + ":v1", Limits{AllowFileSources: []string{"/srv/images"}},
			"not under the directories this manager allows local sources from"},
		"a registry that is not an allowed host": {"registry.example:5000/node:1", Limits{AllowHosts: []string{"127.0.0.1"}},
			"host registry.example:5000 is not one this manager allows"},
		"a platform the image is not for": {"oci:" + layout + ":v1", Limits{AllowFileSources: []string{os.TempDir()}}, "is for linux/amd64, not linux/arm64"},
	} {
		t.Run(name, func(t *testing.T) {
			req := generic(t.TempDir(), "", "")
			req.Inputs.Rootfs, req.Inputs.Image = nil, &Image{Ref: c.ref}
			req.Limits = c.limits
			if strings.Contains(c.want, "arm64") {
				req.Inputs.Arch = "arm64"
			}
			_, err := Run(ctx, req, opts(t))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
			if f, ok := AsFailure(err); strings.Contains(c.want, "allow") && (!ok || f.Reason != ReasonSourceNotAllowed) {
				t.Fatalf("failure %+v, want reason %s", f, ReasonSourceNotAllowed)
			}
		})
	}
}
