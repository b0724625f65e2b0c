package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/flarecast/flarecast/internal/archive"
	"github.com/flarecast/flarecast/internal/installplan"
	"github.com/flarecast/flarecast/internal/model"
	"github.com/flarecast/flarecast/internal/render"
	"github.com/flarecast/flarecast/internal/repository"
	"github.com/flarecast/flarecast/internal/tarball"
	"github.com/flarecast/flarecast/internal/testsupport/netlab"
)

// The harness of the qemu nodes that boot from the real install server: the PXE installs
// (TestPXEInstallFromTheInstallServer) and the diskless boots.

// pxeLab is a lab whose server side is this machine: a namespace with a bridge and qemu's
// tap, and a veth whose host end (returned) holds serverIP/24, for the real install server
// run as an operator runs it.
func pxeLab(t *testing.T, name, serverIP string) (*lab, string) {
	t.Helper()
	l := &lab{t: t, ns: netlab.NewNetns(t, name), dir: t.TempDir()}
	host := fmt.Sprintf("fc%s%d", name, os.Getpid()%100000)
	for _, args := range [][]string{
		{"link", "add", bridge, "type", "bridge", "forward_delay", "0"},
		{"link", "set", bridge, "up"},
		{"tuntap", "add", "dev", tap, "mode", "tap"},
		{"link", "set", tap, "master", bridge},
		{"link", "set", tap, "up"},
	} {
		l.ns.IP(args...)
	}
	// The host end goes with the namespace (a veth pair dies with either end).
	netlab.Run(t, "ip", "link", "add", host, "type", "veth", "peer", "name", "up0", "netns", l.ns.Name)
	l.ns.IP("link", "set", "up0", "master", bridge)
	l.ns.IP("link", "set", "up0", "up")
	netlab.Run(t, "ip", "addr", "add", serverIP+"/24", "dev", host)
	netlab.Run(t, "ip", "link", "set", host, "up")
	t.Cleanup(func() { exec.Command("ip", "link", "del", host).Run() })
	return l, host
}

// debianDeployable packs the bootable Debian base as a Generic archive into a repository
// under dir and derives the deployable of the model's one group from it: the plans in the
// cluster section, the group's scripts in the configuration section. It returns the
// repository and the deployable's digest.
func debianDeployable(t *testing.T, dir, base string, in model.Input, plans []installplan.Plan) (string, string) {
	t.Helper()
	b := packDebianBase(t, dir, base)
	return b.repo, b.derive(t, in, plans)
}

// debianBase is the bootable Debian base packed as a Generic archive in a repository, from
// which a test derives its group's deployables (a second one after a model change).
type debianBase struct {
	repo  string
	store repository.Store
	gen   string
}

// packDebianBase packs the Debian base's tar (hack/debian-base.sh) into a repository under dir.
func packDebianBase(t *testing.T, dir, base string) debianBase {
	t.Helper()
	ctx := context.Background()
	repo := filepath.Join(dir, "repo")
	store, err := repository.Open(ctx, repo, repository.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(base)
	if err != nil {
		t.Fatal(err)
	}
	gen, _, err := archive.Create(ctx, store, tarball.TarSource(f), archive.CreateOptions{Name: "debian-base", Architecture: "amd64", OS: "linux",
		Created: &debianCreated, TempDir: t.TempDir(), Level: 1})
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	return debianBase{repo: repo, store: store, gen: gen.Digest.String()}
}

var debianCreated = time.Unix(1700000000, 0).UTC()

// derive makes the deployable of the model's one group: the plans in the cluster section,
// the group's scripts and reboots in the configuration section. It returns its digest.
func (b debianBase) derive(t *testing.T, in model.Input, plans []installplan.Plan) string {
	t.Helper()
	files, err := render.PlanFiles(plans)
	if err != nil {
		t.Fatal(err)
	}
	g := in.Groups[0]
	conf := &archive.Configuration{DoubleReboot: g.Spec.Configuration.Reboots == "Twice"}
	for _, s := range g.Spec.Configuration.Scripts {
		conf.Scripts = append(conf.Scripts, archive.Script{Name: s.Name, Stage: archive.Stage(s.Stage), Order: int(s.Order), Data: []byte(*s.Source.Inline)})
	}
	var nodes []archive.Node
	var names []string
	for _, n := range g.Spec.Nodes {
		nodes = append(nodes, archive.Node{Name: n.Name, ID: int(n.ID), Group: g.Name})
		names = append(names, n.Name)
	}
	genDigest, err := digest.Parse(b.gen)
	if err != nil {
		t.Fatal(err)
	}
	dep, err := archive.Derive(context.Background(), b.store, archive.DeriveOptions{Base: b.gen, Name: "edge-" + g.Name, Type: archive.Deployable,
		Configuration: conf, Cluster: &archive.ClusterSection{Files: files, Nodes: nodes},
		SoftwareLoad: &archive.SoftwareLoadDescriptor{Cluster: "edge", Groups: []archive.GroupLoad{{Name: g.Name, Archive: genDigest, Nodes: names}}},
		NodesGroup:   g.Name, Created: &debianCreated})
	if err != nil {
		t.Fatal(err)
	}
	return dep.Descriptor.Digest.String()
}
