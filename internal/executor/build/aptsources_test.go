package build

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/flarecast/flarecast/internal/archive"
)

// A debian base's mirror and a build's repositories meet the limits a rootfs meets: hosts
// from --allow-source-host when any is listed, a file:// mirror (read from the build host)
// only under --allow-file-source, symbolic links resolved; a file:// repository is a path of
// the build root and passes; any other apt method, or a line with no URI, is refused.
func TestAptSourcesMeetTheManagersLimits(t *testing.T) {
	allowed := t.TempDir()
	os.Mkdir(filepath.Join(allowed, "mirror"), 0o755)
	outside := t.TempDir()
	os.Symlink(outside, filepath.Join(allowed, "escape"))
	hosts := Limits{AllowHosts: []string{"mirror.example", "repo.example:8080"}, AllowFileSources: []string{allowed}}
	debian := func(mirror string) *Master {
		return &Master{Base: MasterBase{Debian: &Debian{Suite: "bookworm", Mirror: mirror}}}
	}
	repos := func(lines ...string) *Master {
		return &Master{Base: MasterBase{Rootfs: &Rootfs{}}, Repositories: lines}
	}
	for _, c := range []struct {
		name string
		m    *Master
		lim  Limits
		want string // "" passes
	}{
		{"any host when none is listed", debian("http://deb.debian.org/debian"), Limits{}, ""},
		{"a listed host", debian("https://mirror.example/debian"), hosts, ""},
		{"a host not listed", debian("http://deb.debian.org/debian"), hosts, "host deb.debian.org is not one this manager allows"},
		{"a listed host:port only on its port", repos("deb http://repo.example:9090/x bookworm main"), hosts, "host repo.example:9090 is not one"},
		{"a repository's options skipped", repos("deb [arch=amd64 signed-by=/k.gpg] http://repo.example:8080/x bookworm main"), hosts, ""},
		{"a repository's host not listed", repos("deb-src [trusted=yes] http://evil.example/x ./"), hosts, "host evil.example is not one"},
		{"a file:// mirror under an allowed directory", debian("file://" + filepath.Join(allowed, "mirror") + "/"), hosts, ""},
		{"a file:// mirror when none is allowed", debian("file://" + filepath.Join(allowed, "mirror")), Limits{}, "allows file:// sources from (--allow-file-source)"},
		{"a file:// mirror outside", debian("file://" + outside), hosts, "allows file:// sources from (--allow-file-source)"},
		{"a file:// mirror through a link out", debian("file://" + filepath.Join(allowed, "escape")), hosts, "allows file:// sources from (--allow-file-source)"},
		{"a file:// mirror with ..", debian("file://" + allowed + "/mirror/../../etc"), hosts, "allows file:// sources from (--allow-file-source)"},
		{"a file:// repository is the build root's", repos("deb [trusted=yes] file:///srv/local ./"), Limits{}, ""},
		{"another apt method", repos("deb cdrom:[Debian]/ bookworm main"), Limits{}, `apt method "cdrom" is not one a build may use`},
		{"a mirror+ method", debian("mirror+http://x.example/list"), Limits{}, `apt method "mirror+http"`},
		{"no URI", repos("deb [trusted=yes]"), Limits{}, "no URI and suite"},
		{"unclosed options", repos("deb [trusted=yes http://x/ bookworm"), Limits{}, "no closing ]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := checkAptSources(c.m, c.lim)
			if c.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			wantFailure(t, err, ReasonSourceNotAllowed, c.want)
		})
	}
}

// The check comes before anything runs: a build whose mirror the manager does not allow
// fails SourceNotAllowed without mmdebstrap being started (its work directory stays empty,
// no repository is made), whatever tools the host has.
func TestABuildFromAMirrorNotAllowedRunsNothing(t *testing.T) {
	repo := filepath.Join(t.TempDir(), "repo")
	work := t.TempDir()
	req := &Request{Archive: "ns/master", Repository: repo, Tag: "ns.master",
		Inputs: Inputs{Type: archive.Generic, Arch: "amd64", Build: &Master{SourceDateEpoch: 1,
			Base: MasterBase{Debian: &Debian{Suite: "bookworm", Mirror: "file:///etc"}}}},
		Limits: Limits{AllowBuildSources: true}}
	_, err := Run(context.Background(), req, Options{WorkDir: work})
	wantFailure(t, err, ReasonSourceNotAllowed, "debian base mirror file:///etc: not a directory under the directories this manager allows")
	if left, _ := os.ReadDir(work); len(left) != 0 {
		t.Fatalf("the refused build left %v in its work directory", left)
	}
	if blobs, _ := os.ReadDir(filepath.Join(repo, "blobs", "sha256")); len(blobs) != 0 {
		t.Fatalf("the refused build stored %d blobs", len(blobs))
	}
}
