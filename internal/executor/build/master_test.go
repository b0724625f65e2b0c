package build

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/flarecast/flarecast/internal/archive"
	"github.com/flarecast/flarecast/internal/executor/build/buildtest"
	"github.com/flarecast/flarecast/internal/repository"
)

// hello is the tiny package the build tests install on the Debian base.
var hello = buildtest.Package{Name: "flarecast-hello", Version: "1.2-3", Files: map[string]string{"/usr/share/flarecast-hello/greeting": "hello from a package\n"}}

func masterRequest(t *testing.T, repo, url, dgst string, m *Master) *Request {
	t.Helper()
	m.Base = MasterBase{Rootfs: &Rootfs{URL: url, Digest: digest.Digest(dgst)}}
	if m.SourceDateEpoch == 0 {
		m.SourceDateEpoch = 1700000000
	}
	return &Request{Archive: "ns/master", Repository: repo, Tag: "ns.master",
		Inputs: Inputs{Type: archive.Generic, Arch: "amd64", Build: m},
		Limits: Limits{AllowFileSources: []string{os.TempDir()}, AllowBuildSources: true}}
}

// Two builds of the Debian base with one package from the same repository, into two
// repositories, give the same archive digest; the package is in the archive, and the config
// records it with its exact version as dpkg reports it. Nothing of the build is left in its
// work directory.
func TestABuildSourceInstallsThePackageAndIsReproducible(t *testing.T) {
	src := buildtest.Repo(t, hello)
	url, dgst := buildtest.Base(t, t.TempDir())
	var digests []digest.Digest
	for i := range 2 {
		repo := filepath.Join(t.TempDir(), "repo")
		req := masterRequest(t, repo, url, dgst, &Master{Packages: []Package{{Name: "flarecast-hello", Version: "1.2-3"}}, Repositories: []string{src}})
		work := t.TempDir()
		start := time.Now()
		res, err := Run(context.Background(), req, Options{WorkDir: work})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("build %d: %s in %s", i, res.Digest, time.Since(start).Round(time.Millisecond))
		digests = append(digests, res.Digest)
		if left, _ := os.ReadDir(work); len(left) != 0 {
			t.Fatalf("the build left %v in its work directory", left)
		}
		if i > 0 {
			continue
		}
		store, err := repository.Open(context.Background(), repo, repository.Options{})
		if err != nil {
			t.Fatal(err)
		}
		a, err := archive.Load(context.Background(), store, "ns.master")
		if err != nil {
			t.Fatal(err)
		}
		var pkgs []Installed
		if err := json.Unmarshal([]byte(a.Config.Inputs[InputBuildPackages]), &pkgs); err != nil {
			t.Fatalf("%s: %v", InputBuildPackages, err)
		}
		found := map[string]string{}
		for _, p := range pkgs {
			found[p.Name] = p.Version
		}
		if found["flarecast-hello"] != "1.2-3" || found["systemd"] == "" || !strings.Contains(a.Config.Inputs[InputBuildPackages], `"linux-image-amd64"`) {
			t.Fatalf("installed packages recorded: %s", a.Config.Inputs[InputBuildPackages])
		}
		root := t.TempDir()
		if _, err := archive.Extract(context.Background(), store, "ns.master", root, archive.ExtractOptions{}); err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(filepath.Join(root, "usr/share/flarecast-hello/greeting")); err != nil || string(b) != "hello from a package\n" {
			t.Fatalf("the package's file: %q, %v", b, err)
		}
		for _, gone := range []string{buildSources, policyRcD, "var/log/dpkg.log", "var/lib/apt/lists/_tests_Packages"} {
			if _, err := os.Lstat(filepath.Join(root, gone)); err == nil {
				t.Errorf("%s: left in the archive by the build", gone)
			}
		}
		store.Close()
	}
	if digests[0] != digests[1] {
		t.Fatalf("two builds of the same inputs: %s and %s", digests[0], digests[1])
	}
}

// A package that no repository has fails the build with InstallFailed, naming it, and leaves
// no build root behind and nothing in the repository.
func TestABuildOfAMissingPackageFailsAndLeavesNothing(t *testing.T) {
	repo := filepath.Join(t.TempDir(), "repo")
	url, dgst := buildtest.Base(t, t.TempDir())
	req := masterRequest(t, repo, url, dgst, &Master{Packages: []Package{{Name: "flarecast-no-such-package"}}, Repositories: []string{buildtest.Repo(t, hello)}})
	work := t.TempDir()
	_, err := Run(context.Background(), req, Options{WorkDir: work})
	f, ok := AsFailure(err)
	if !ok || f.Reason != ReasonInstallFailed || !strings.Contains(f.Message, "flarecast-no-such-package") {
		t.Fatalf("want InstallFailed naming the package, got %v", err)
	}
	if left, _ := os.ReadDir(work); len(left) != 0 {
		t.Fatalf("the build left %v in its work directory", left)
	}
	if blobs, _ := os.ReadDir(filepath.Join(repo, "blobs", "sha256")); len(blobs) != 0 {
		t.Fatalf("the failed build left %d blobs", len(blobs))
	}
}

// A manager that does not allow build sources refuses them before anything is fetched.
func TestABuildSourceIsRefusedUnlessTheManagerAllowsThem(t *testing.T) {
	req := &Request{Archive: "ns/master", Repository: filepath.Join(t.TempDir(), "repo"), Tag: "ns.master",
		Inputs: Inputs{Type: archive.Generic, Arch: "amd64", Build: &Master{SourceDateEpoch: 1,
			Base: MasterBase{Rootfs: &Rootfs{URL: "file:///nowhere.tar", Digest: digest.FromString("x")}}}}}
	_, err := Run(context.Background(), req, Options{WorkDir: t.TempDir()})
	if f, ok := AsFailure(err); !ok || f.Reason != ReasonSourceNotAllowed || !strings.Contains(f.Message, "--allow-build-sources") {
		t.Fatalf("want SourceNotAllowed naming --allow-build-sources, got %v", err)
	}
}

// A package whose maintainer script grows the build root (by 2 GiB, in 16 MiB steps) fails
// the build with SourceTooLarge naming the root's size and the bound, while apt runs (not after
// it wrote it all, or the disk is full), and leaves no build root and no blob.
func TestAPackageThatGrowsTheRootPastMaxSizeIsStoppedDuringApt(t *testing.T) {
	url, dgst := buildtest.Base(t, t.TempDir())
	grow := buildtest.Package{Name: "flarecast-grow", Version: "1", Postinst: "#!/bin/sh\ni=0\nwhile [ $i -lt 128 ]; do head -c 16M /dev/zero >>/var/lib/flarecast-grow; i=$((i+1)); done\n"}
	repo := filepath.Join(t.TempDir(), "repo")
	req := masterRequest(t, repo, url, dgst, &Master{Packages: []Package{{Name: "flarecast-grow"}}, Repositories: []string{buildtest.Repo(t, grow)}})
	fi, err := os.Stat(strings.TrimPrefix(url, "file://"))
	if err != nil {
		t.Fatal(err)
	}
	// Room for the base and apt's lists, not for 256 MiB more.
	req.Limits.MaxSize = fi.Size() + 256<<20
	work := t.TempDir()
	start := time.Now()
	_, err = Run(context.Background(), req, Options{WorkDir: work})
	f, ok := AsFailure(err)
	if !ok || f.Reason != ReasonSourceTooLarge || !strings.Contains(f.Message, "during install flarecast-grow, more than the "+sizeOf(req.Limits.MaxSize)+" maxSize allows") ||
		!strings.Contains(f.Message, "the build root grew to "+sizeOf(f.Bytes)) || f.Bytes <= req.Limits.MaxSize || f.Bytes > req.Limits.MaxSize+1<<30 {
		t.Fatalf("want SourceTooLarge naming the root's size and the bound, got %v (after %s)", err, time.Since(start))
	}
	t.Logf("%s (after %s)", f.Message, time.Since(start).Round(time.Millisecond))
	if left, _ := os.ReadDir(work); len(left) != 0 {
		t.Fatalf("the build left %v in its work directory", left)
	}
	if blobs, _ := os.ReadDir(filepath.Join(repo, "blobs", "sha256")); len(blobs) != 0 {
		t.Fatalf("the failed build left %d blobs", len(blobs))
	}
}

// What a person adds during the pause is bounded as apt's additions are: a root grown past
// maxSize by hand, then resumed at once (before the pause's next measure), fails the build at
// the resume with SourceTooLarge naming the root's size and the bound, and leaves no build root
// and no blob (a directory's pack does not count its bytes: without the bound the build
// succeeded, its archive past maxSize).
func TestARootGrownPastMaxSizeDuringThePauseFailsAtTheResume(t *testing.T) {
	url, dgst := buildtest.BusyboxBase(t, t.TempDir())
	repo := filepath.Join(t.TempDir(), "repo")
	req := masterRequest(t, repo, url, dgst, &Master{Pause: true})
	req.Limits.MaxSize = 4 << 20 // busybox's 2 MB, not 4 MiB more
	work := t.TempDir()
	grown := make(chan error, 1)
	var once bool
	progress := func(p Progress) {
		if p.Stage != StageCustomize || once {
			return
		}
		once = true
		err := os.WriteFile(filepath.Join(p.Root, "var-grown"), make([]byte, 4<<20), 0o644)
		if err == nil {
			err = os.WriteFile(filepath.Join(work, ResumeFile), nil, 0o600)
		}
		grown <- err
	}
	_, err := Run(context.Background(), req, Options{WorkDir: work, Progress: progress})
	if gerr := <-grown; gerr != nil {
		t.Fatal(gerr)
	}
	f, ok := AsFailure(err)
	if !ok || f.Reason != ReasonSourceTooLarge || f.Bytes <= req.Limits.MaxSize ||
		f.Message != "the build root grew to "+sizeOf(f.Bytes)+" during the customization pause, more than the "+sizeOf(req.Limits.MaxSize)+" maxSize allows; the build stopped and its root was removed" {
		t.Fatalf("want SourceTooLarge naming the root's size and the bound, got %v", err)
	}
	if left, _ := os.ReadDir(work); len(left) != 0 {
		t.Fatalf("the build left %v in its work directory", left)
	}
	if blobs, _ := os.ReadDir(filepath.Join(repo, "blobs", "sha256")); len(blobs) != 0 {
		t.Fatalf("the failed build left %d blobs", len(blobs))
	}
}
