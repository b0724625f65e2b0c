package installserver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/internal/installplan"
	"github.com/flarecast/flarecast/internal/installserver"
	"github.com/flarecast/flarecast/internal/testsupport/netlab"
)

// TestInstallServerCommandKeepsNodeWritesAndServesSharedData: the real command serves the
// sample site with its diskless group set to writes: Persistent, and its dataless group's
// shared data /shared. Real clients (libnfs's nfs-cp, nfs-cat and nfs-ls) in one namespace
// take each node's address in turn (the route's source address):
//   - n5 writes through its own export; the write survives a restart of the install server,
//     lands in n5's directory of the state directory, and the group's tree stays as it was;
//   - n6 sees its own export without n5's file; n6 and a stranger are refused n5's export
//     (MNT3ERR_ACCES);
//   - dl3 writes shared data that dl4 reads; a node of another group is refused it;
//   - the plan responses say where: n5's NFSWrites, dl3's Mounts.
func TestInstallServerCommandKeepsNodeWritesAndServesSharedData(t *testing.T) {
	needAPI(t)
	needPeers(t, "nfs-cat", "nfs-cp", "nfs-ls", "curl")
	ns := newNamespace(t)
	applySamples(t, ns)
	// A domain of this test's own: the sample's (7) gives the addresses other tests and the
	// demo use, and the server reaches each client by a host route on this machine.
	domain := 150 + os.Getpid()%100
	var cl fcv1.Cluster
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "edge"}, &cl); err != nil {
		t.Fatal(err)
	}
	cl.Spec.Domain = int32(domain)
	if err := k8s.Update(context.Background(), &cl); err != nil {
		t.Fatal(err)
	}
	var g fcv1.NodesGroup
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "diskless"}, &g); err != nil {
		t.Fatal(err)
	}
	g.Spec.Diskless = &fcv1.DisklessSpec{Root: fcv1.DisklessRootNFS, Writes: fcv1.DisklessWritesPersistent}
	if err := k8s.Update(context.Background(), &g); err != nil {
		t.Fatal(err)
	}
	repo := filepath.Join(t.TempDir(), "repo")
	d := makeDeployableWith(t, repo, ns, "diskless", "ID=flarecast-test\n", func(p *installplan.Plan) { p.Writes = installplan.WritesPersistent }, "n5", "n6")
	d.publish(t, ns)
	dl := makeDeployableWith(t, repo, ns, "dataless", "ID=flarecast-test\n", func(p *installplan.Plan) {
		p.NodeType, p.Role = "Dataless", "NonMasterEligible"
		p.Mounts = []installplan.Mount{{Name: "shared", MountPoint: "/shared"}}
	}, "dl3", "dl4")
	dl.publish(t, ns)

	l := newLAN(t)
	addrs := map[string]string{}
	for who, id := range map[string]int{"n5": 5, "n6": 6, "dl3": 3, "dl4": 4, "stranger": 55} {
		addrs[who] = fmt.Sprintf("198.18.%d.%d", domain, id)
	}
	clientNS := l.client("c", "52:54:00:fc:00:56", "")
	for _, a := range addrs {
		clientNS.IP("addr", "add", a+"/16", "dev", "eth0")
		netlab.Run(t, "ip", "route", "add", a+"/32", "dev", l.iface)
	}
	as := func(who string) {
		t.Helper()
		clientNS.IP("route", "replace", l.server+"/32", "dev", "eth0", "src", addrs[who])
	}

	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, testSecret, 0o600); err != nil {
		t.Fatal(err)
	}
	const nfsPort = 20491
	state := filepath.Join(dir, "state")
	args := []string{"--namespace", ns, "--site", "edge-dc", "--interface", l.iface,
		"--repo", repo, "--boot-dir", "/usr/lib/ipxe", "--nfs-port", fmt.Sprint(nfsPort),
		"--state-dir", state, "--secret-file", secretFile, "--log-development"}
	_, stop := startStoppableCLI(t, args...)

	base := "http://" + l.server + ":8080"
	plan := func(node string) installplan.PlanResponse {
		t.Helper()
		var resp installplan.PlanResponse
		var body []byte
		eventually(t, 90*time.Second, node+"'s plan", func() bool {
			var err error
			body, err = exec.Command("curl", "-sf", "-H", "Authorization: Bearer "+token(ns, node), base+"/agent/v1/nodes/"+ns+"/edge/"+node+"/plan").Output()
			return err == nil
		})
		if err := json.Unmarshal(body, &resp); err != nil {
			t.Fatalf("%s's plan: %v\n%s", node, err, body)
		}
		return resp
	}
	n5 := plan("n5")
	wantWrites := installplan.NFSRoot{Server: l.server, Port: nfsPort, Path: installserver.NodeExportPath(ns, "diskless", "n5"), Digest: d.digest}
	if n5.NFSWrites == nil || *n5.NFSWrites != wantWrites {
		t.Errorf("n5's NFSWrites %+v, want %+v", n5.NFSWrites, wantWrites)
	}
	if n5.NFSRoot == nil || n5.NFSRoot.Path != installserver.ExportPath(ns, "diskless") {
		t.Errorf("n5's NFSRoot %+v", n5.NFSRoot)
	}
	dl3 := plan("dl3")
	wantMounts := []installplan.NFSMount{{Name: "shared", MountPoint: "/shared", Server: l.server, Port: nfsPort, Path: installserver.DataExportPath(ns, "dataless", "shared")}}
	if !reflect.DeepEqual(dl3.Mounts, wantMounts) {
		t.Errorf("dl3's Mounts %+v, want %+v", dl3.Mounts, wantMounts)
	}

	url := func(export, file string) string {
		return fmt.Sprintf("nfs://%s%s%s?version=3&nfsport=%d&mountport=%d&auto-traverse-mounts=0", l.server, export, file, nfsPort, nfsPort)
	}
	cp := func(who, body, to string) error {
		t.Helper()
		as(who)
		src := filepath.Join(t.TempDir(), "f")
		os.WriteFile(src, []byte(body), 0o644)
		out, err := clientNS.Command("nfs-cp", src, to).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	}
	cat := func(who, from string) (string, error) {
		t.Helper()
		as(who)
		out, err := clientNS.Command("nfs-cat", from).CombinedOutput()
		return string(out), err
	}
	n5x, n6x := installserver.NodeExportPath(ns, "diskless", "n5"), installserver.NodeExportPath(ns, "diskless", "n6")
	data := installserver.DataExportPath(ns, "dataless", "shared")
	if err := cp("n5", "n5 was here\n", url(n5x, "/etc/n5-note")); err != nil {
		t.Fatalf("n5 writes through its export: %v", err)
	}
	if err := cp("dl3", "shared by dl3\n", url(data, "/from-dl3")); err != nil {
		t.Fatalf("dl3 writes shared data: %v", err)
	}

	// The restart: the writes are in the state directory, not in the server's memory.
	stop(syscall.SIGTERM)
	startStoppableCLI(t, args...)
	eventually(t, 90*time.Second, "n5 reading its note after the restart", func() bool {
		got, err := cat("n5", url(n5x, "/etc/n5-note"))
		return err == nil && got == "n5 was here\n"
	})
	if got, err := cat("n5", url(n5x, "/etc/os-release")); err != nil || got != "ID=flarecast-test\n" {
		t.Errorf("n5 reads the group's tree through its export: %q %v", got, err)
	}
	if got, err := cat("n6", url(n6x, "/etc/os-release")); err != nil || got != "ID=flarecast-test\n" {
		t.Errorf("n6 reads its export: %q %v", got, err)
	}
	if got, err := cat("n6", url(n6x, "/etc/n5-note")); err == nil {
		t.Errorf("n6 sees n5's note in its own export: %q", got)
	}
	for _, who := range []string{"n6", "stranger"} {
		got, err := cat(who, url(n5x, "/etc/n5-note"))
		if err == nil || !strings.Contains(got, "MNT3ERR_ACCES") {
			t.Errorf("%s reading n5's export: %q (%v), want MNT3ERR_ACCES", who, got, err)
		}
		if err := cp(who, "intruder\n", url(n5x, "/etc/intruder")); err == nil {
			t.Errorf("%s wrote into n5's export", who)
		}
	}
	tree := filepath.Join(state, "nfs", "trees", strings.ReplaceAll(d.digest, ":", "-"))
	if _, err := os.Lstat(filepath.Join(tree, "etc", "n5-note")); err == nil {
		t.Error("n5's write reached the group's tree")
	}
	if b, err := os.ReadFile(filepath.Join(state, "nfs", "nodes", ns, "diskless", "n5", "upper", "etc", "n5-note")); err != nil || string(b) != "n5 was here\n" {
		t.Errorf("n5's directory in the state directory holds %q (%v)", b, err)
	}
	if _, err := os.Lstat(filepath.Join(state, "nfs", "nodes", ns, "diskless", "n5", "upper", "etc", "intruder")); err == nil {
		t.Error("an intruder's file reached n5's directory")
	}

	if got, err := cat("dl4", url(data, "/from-dl3")); err != nil || got != "shared by dl3\n" {
		t.Errorf("dl4 reads dl3's shared data: %q %v", got, err)
	}
	if got, err := cat("n5", url(data, "/from-dl3")); err == nil || !strings.Contains(got, "MNT3ERR_ACCES") {
		t.Errorf("n5, of another group, reading the dataless group's shared data: %q (%v), want MNT3ERR_ACCES", got, err)
	}
}
