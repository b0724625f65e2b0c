package build

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/flarecast/flarecast/internal/archive"
	"github.com/flarecast/flarecast/internal/repository"
)

// rootfsTarGz writes a two-file root file system as a tar.gz and returns its path and digest.
func rootfsTarGz(t *testing.T) (string, digest.Digest) {
	t.Helper()
	var b bytes.Buffer
	gz := gzip.NewWriter(&b)
	tw := tar.NewWriter(gz)
	for _, f := range []struct{ name, body string }{{"etc/os-release", "ID=tiny\n"}, {"usr/bin/hello", "#!/bin/sh\necho hi\n"}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o755, Size: int64(len(f.body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(f.body))
	}
	tw.Close()
	gz.Close()
	p := filepath.Join(t.TempDir(), "rootfs.tar.gz")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p, digest.FromBytes(b.Bytes())
}

// generic is the request of a Generic archive; file:// sources are allowed from the test's
// temporary directories.
func generic(repo, url string, d digest.Digest) *Request {
	return &Request{Archive: "ns/base", Repository: repo, Tag: "ns.base",
		Inputs: Inputs{Type: archive.Generic, Arch: "amd64", Rootfs: &Rootfs{URL: url, Digest: d}},
		Limits: Limits{AllowFileSources: []string{os.TempDir()}}}
}

func opts(t *testing.T) Options { return Options{WorkDir: t.TempDir()} }

func TestGenericFromFileAndHTTPPackTheSameBinarySection(t *testing.T) {
	ctx := context.Background()
	p, d := rootfsTarGz(t)
	repo := t.TempDir()
	fromFile, err := Run(ctx, generic(repo, "file://"+p, d), opts(t))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(filepath.Dir(p))))
	defer srv.Close()
	fromHTTP, err := Run(ctx, generic(t.TempDir(), srv.URL+"/rootfs.tar.gz", d), opts(t))
	if err != nil {
		t.Fatal(err)
	}
	// The URL is an input (recorded in the config), the bytes are the same: same binary section.
	if fromFile.Sections[1].Digest != fromHTTP.Sections[1].Digest || fromFile.Digest == fromHTTP.Digest {
		t.Fatalf("file:// and http:// of one tarball: sections %+v and %+v", fromFile.Sections, fromHTTP.Sections)
	}
	if len(fromFile.Sections) != 2 || fromFile.Sections[1].Name != archive.SectionArchive || fromFile.Size != fromFile.Sections[0].Size+fromFile.Sections[1].Size {
		t.Fatalf("result %+v", fromFile)
	}
	store, _ := repository.Open(ctx, repo, repository.Options{})
	a, err := archive.Load(ctx, store, "ns.base")
	if err != nil || a.Descriptor.Digest != fromFile.Digest || a.Config.Inputs[InputRootfsDigest] != string(d) {
		t.Fatalf("tag ns.base: %v %+v", err, a)
	}
}

func TestRootfsIsCheckedBeforePacking(t *testing.T) {
	ctx := context.Background()
	p, _ := rootfsTarGz(t)
	repo := t.TempDir()
	wrong := digest.FromString("something else")
	_, err := Run(ctx, generic(repo, "file://"+p, wrong), opts(t))
	if err == nil || !strings.Contains(err.Error(), "spec.source.rootfs.digest says "+string(wrong)) {
		t.Fatalf("error %v, want a digest mismatch", err)
	}
	store, _ := repository.Open(ctx, repo, repository.Options{})
	if l, _ := store.List(ctx); len(l) != 0 {
		t.Fatalf("a refused rootfs left archives %v", l)
	}
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	if _, err := Run(ctx, generic(repo, srv.URL+"/missing.tar", wrong), opts(t)); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("error %v, want the server's 404", err)
	}
}

func TestConfiguredAndDeployableDeriveFromTheBaseDigest(t *testing.T) {
	ctx := context.Background()
	p, d := rootfsTarGz(t)
	repo := t.TempDir()
	base, err := Run(ctx, generic(repo, "file://"+p, d), opts(t))
	if err != nil {
		t.Fatal(err)
	}
	conf := &Request{Archive: "ns/conf", Repository: repo, Tag: "ns.conf", Inputs: Inputs{Type: archive.Configured, Base: base.Digest,
		Configuration: &Configuration{Files: []File{{Path: "/etc/app.conf", Mode: 0o640, Data: []byte("k=v\n")}},
			Scripts: []Script{{Name: "setup.sh", Stage: archive.StageBeforeServices, Order: 10, Data: []byte("#!/bin/sh\n")}}}}}
	cres, err := Run(ctx, conf, opts(t))
	if err != nil {
		t.Fatal(err)
	}
	load := &archive.SoftwareLoadDescriptor{Cluster: "edge", Domain: 7, Groups: []archive.GroupLoad{{Name: "web", Archive: cres.Digest, Nodes: []string{"n1"}}}}
	dep := &Request{Archive: "ns/edge-web", Repository: repo, Tag: "ns.edge-web", Inputs: Inputs{Type: archive.Deployable, Base: cres.Digest,
		Cluster: &Cluster{Files: []File{{Path: "/etc/hosts", Mode: 0o644, Data: []byte("198.18.7.1 n1\n")}},
			Nodes: []archive.Node{{Name: "n1", ID: 1, Group: "web", Addresses: []string{"198.18.7.1"}}}},
		SoftwareLoad: load, NodesGroup: "web"}}
	dres, err := Run(ctx, dep, opts(t))
	if err != nil {
		t.Fatal(err)
	}
	names := []string{}
	for _, s := range dres.Sections {
		names = append(names, s.Name)
	}
	if strings.Join(names, ",") != "config,archive,configuration,cluster" || dres.Sections[1].Digest != base.Sections[1].Digest {
		t.Fatalf("deployable sections %+v, base %+v", dres.Sections, base.Sections)
	}
	// Describe refuses an archive whose recorded inputs are not the ones asked about.
	store, _ := repository.Open(ctx, repo, repository.Options{})
	if _, err := Describe(ctx, store, "ns.edge-web", conf.Inputs.Digest(nil)); err == nil || !strings.Contains(err.Error(), "was built from inputs") {
		t.Fatalf("Describe with other inputs: %v", err)
	}
}

func TestInputsDigestFollowsEveryInput(t *testing.T) {
	a := Inputs{Type: archive.Deployable, Base: digest.FromString("b"), Cluster: &Cluster{Files: []File{{Path: "/etc/hosts", Data: []byte("1")}}}}
	b := a
	b.Cluster = &Cluster{Files: []File{{Path: "/etc/hosts", Data: []byte("2")}}}
	c := a
	c.Base = digest.FromString("c")
	if a.Digest(nil) == b.Digest(nil) || a.Digest(nil) == c.Digest(nil) {
		t.Fatal("a changed input did not change the inputs digest")
	}
	a2 := a
	if a.Digest(nil) != a2.Digest(nil) {
		t.Fatal("equal inputs, different digests")
	}
}
