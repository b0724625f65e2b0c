package agent

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/flarecast/flarecast/internal/installplan"
)

// tarCapturer reads the upload as a tar and keeps its entries.
type tarCapturer struct {
	entries map[string]*tar.Header
	names   []string
	mounts  []string
}

func (c *tarCapturer) CaptureURL(archive string) string { return "http://is/capture/" + archive }

func (c *tarCapturer) Capture(_ context.Context, archive string, body io.Reader, mounts []string) (installplan.CaptureResult, error) {
	c.entries, c.mounts = map[string]*tar.Header{}, mounts
	tr := tar.NewReader(body)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return installplan.CaptureResult{Archive: archive, Entries: len(c.names)}, nil
		}
		if err != nil {
			return installplan.CaptureResult{}, err
		}
		c.entries[h.Name] = h
		c.names = append(c.names, h.Name)
	}
}

type nullServer struct{ events []installplan.Event }

func (s *nullServer) Plan(context.Context) (installplan.PlanResponse, error) {
	return installplan.PlanResponse{}, errors.New("not asked")
}
func (s *nullServer) Report(_ context.Context, ev installplan.Event) error {
	s.events = append(s.events, ev)
	return nil
}

func write(t *testing.T, root, p, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, p), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The upload is the root in canonical order, without what a capture leaves out (the
// server's list and the agent's own files), with xattrs and hard links kept; the mount points
// mountinfo lists below the root are named; a plan that names another server is refused.
func TestCaptureStreamsTheRootLessItsExclusionsInCanonicalOrder(t *testing.T) {
	root := t.TempDir()
	for _, f := range []string{"proc/1/status", "tmp/x", "etc/ssh/ssh_host_ed25519_key", "etc/ssh/sshd_config", "etc/machine-id",
		"etc/hostname", ResidentConfig, InstalledRecord, "usr/bin/tool", "srv/data/big", "etc/systemd/network/10-flarecast-eth0.link", "etc/systemd/network/99-mine.network"} {
		write(t, root, f, "content of "+f)
	}
	if err := os.Link(filepath.Join(root, "usr/bin/tool"), filepath.Join(root, "usr/bin/tool-alias")); err != nil {
		t.Fatal(err)
	}
	if err := unix.Lsetxattr(filepath.Join(root, "usr/bin/tool"), "user.flarecast", []byte("kept"), 0); err != nil {
		t.Skipf("no user xattrs here: %v", err)
	}
	mountinfo := filepath.Join(t.TempDir(), "mountinfo")
	os.WriteFile(mountinfo, []byte("22 1 0:5 / "+root+"/proc rw - proc proc rw\n23 1 8:2 / "+root+"/srv/data rw - ext4 /dev/sdb1 rw\n25 1 8:3 / "+root+"/var/cache/big rw - ext4 /dev/sdc1 rw\n24 1 8:1 / / rw - ext4 /dev/sda1 rw\n"), 0o644)
	cp := &tarCapturer{}
	srv := &nullServer{}
	cfg := CaptureConfig{Server: srv, Capturer: cp, Root: root, Mountinfo: mountinfo, Digest: "sha256:" + strings.Repeat("d", 64)}
	if _, err := Capture(context.Background(), cfg, installplan.Capture{Archive: "proto", URL: cp.CaptureURL("proto"), Exclude: []string{"srv/data/*"}}); err != nil {
		t.Fatal(err)
	}
	want := []string{"./", "etc/", "etc/ssh/", "etc/ssh/sshd_config", "etc/systemd/", "etc/systemd/network/", "etc/systemd/network/99-mine.network",
		"proc/", "srv/", "srv/data/", "tmp/", "usr/", "usr/bin/", "usr/bin/tool", "usr/bin/tool-alias", "var/", "var/lib/"}
	if !slices.Equal(cp.names, want) {
		t.Fatalf("entries\n got %q\nwant %q", cp.names, want)
	}
	if h := cp.entries["usr/bin/tool-alias"]; h.Typeflag != tar.TypeLink || h.Linkname != "usr/bin/tool" {
		t.Fatalf("the second name of a hard link is %c -> %q, want a link to usr/bin/tool", h.Typeflag, h.Linkname)
	}
	if v := cp.entries["usr/bin/tool"].PAXRecords["SCHILY.xattr.user.flarecast"]; v != "kept" {
		t.Fatalf("xattr user.flarecast = %q, want kept", v)
	}
	// /proc's and /srv/data's contents are left out anyway (the fixed list, the server's).
	if !slices.Equal(cp.mounts, []string{"var/cache/big"}) {
		t.Fatalf("mount points %q, want [var/cache/big]", cp.mounts)
	}
	if len(srv.events) < 2 || srv.events[len(srv.events)-1].Step != "capture" || srv.events[len(srv.events)-1].Phase != installplan.PhaseRunning {
		t.Fatalf("events %+v: want Running capture reports, start and end", srv.events)
	}
	_, err := Capture(context.Background(), cfg, installplan.Capture{Archive: "proto", URL: "http://elsewhere/steal"})
	if err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("a plan naming another server: %v, want a refusal", err)
	}
}
