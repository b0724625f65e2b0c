package installserver_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/internal/installplan"
	"github.com/flarecast/flarecast/internal/installserver"
)

// startInProcess runs the install server with d's repository (startServer), its section URLs
// naming 127.0.0.1:18080, and with groupController the manager's own NodesGroup reconciler
// beside it.
func startInProcess(t *testing.T, ns string, d *deployable, groupController bool) (*installserver.Server, *testServer) {
	t.Helper()
	ts := startServer(t, ns, serverSetup{store: d.store, groups: groupController, serves: "m1",
		address: netip.MustParseAddr("127.0.0.1"), port: 18080})
	return ts.Server, ts
}

func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func token(ns, node string) string { return installplan.Token(testSecret, ns, "edge", node) }

func call(t *testing.T, method, url, tok, body string) (int, string) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func nodeURL(base, ns, node, what string) string {
	return base + installplan.APIPrefix + "/nodes/" + ns + "/edge/" + node + "/" + what
}

func groupNode(t *testing.T, ns, group, node string) (fcv1.NodeStatus, *fcv1.NodesGroup) {
	t.Helper()
	var g fcv1.NodesGroup
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: group}, &g); err != nil {
		t.Fatal(err)
	}
	for _, n := range g.Status.Nodes {
		if n.Name == node {
			return n, &g
		}
	}
	return fcv1.NodeStatus{}, &g
}

// TestAgentAPIServesPlansFromTheDeployable: a node of the model gets its plan from its
// group's deployable archive, with the archive's sections at this server's blob route; each
// way to be refused gets its own status and says why.
func TestAgentAPIServesPlansFromTheDeployable(t *testing.T) {
	needAPI(t)
	ns := newNamespace(t)
	applySamples(t, ns)
	d := makeDeployable(t, ns, "m1")
	d.publish(t, ns)
	_, hs := startInProcess(t, ns, d, false)

	code, body := call(t, "GET", nodeURL(hs.URL, ns, "m1", "plan"), token(ns, "m1"), "")
	if code != 200 {
		t.Fatalf("plan of m1: %d %s", code, body)
	}
	var pr installplan.PlanResponse
	if err := json.Unmarshal([]byte(body), &pr); err != nil {
		t.Fatal(err)
	}
	if pr.Action != installplan.ActionInstall || pr.Plan.Node != "m1" || pr.Plan.Group != "masters" || pr.Archive.Digest != d.digest || pr.Archive.Name != "edge-masters" {
		t.Fatalf("plan of m1: %+v", pr)
	}
	if len(pr.Archive.Sections) < 2 {
		t.Fatalf("sections: %+v", pr.Archive.Sections)
	}
	for _, s := range pr.Archive.Sections {
		if s.URL != "http://127.0.0.1:18080/blobs/"+s.Digest || s.Size <= 0 || !strings.HasPrefix(s.DiffID, "sha256:") {
			t.Errorf("section %+v", s)
		}
		// The blob route serves it, by digest.
		if code, blob := call(t, "GET", hs.URL+"/blobs/"+s.Digest, "", ""); code != 200 || int64(len(blob)) != s.Size {
			t.Errorf("blob %s: %d, %d bytes", s.Name, code, len(blob))
		}
	}
	// The manifest is on the blob route too, and names the sections given.
	if code, m := call(t, "GET", hs.URL+"/blobs/"+d.digest, "", ""); code != 200 || !strings.Contains(m, pr.Archive.Sections[0].Digest) {
		t.Errorf("manifest by digest: %d %.200s", code, m)
	}
	for _, c := range []struct {
		name, node, tok string
		code            int
		says            string
	}{
		{"no token", "m1", "", 401, "no token"},
		{"a token of no node", "m1", "bm90LWEtdG9rZW4", 401, "nor any node's"},
		{"another node's token", "m1", token(ns, "m2"), 403, "m2's, not node " + ns + "/edge/m1's"},
		{"a node not in the model", "ghost", token(ns, "ghost"), 404, "not served"},
		{"a node whose archive has no plan for it", "m2", token(ns, "m2"), 409, "carries no install plan for node m2"},
		{"a group without a deployable", "dl3", token(ns, "dl3"), 503, "NodesGroup dataless has no deployable FlashArchive edge-dataless"},
	} {
		if code, body := call(t, "GET", nodeURL(hs.URL, ns, c.node, "plan"), c.tok, ""); code != c.code || !strings.Contains(body, c.says) {
			t.Errorf("%s: %d %s, want %d saying %q", c.name, code, body, c.code, c.says)
		}
	}
	// A token of this node under another namespace's path is not this node's.
	if code, _ := call(t, "GET", hs.URL+installplan.APIPrefix+"/nodes/other/edge/m1/plan", token(ns, "m1"), ""); code != 403 {
		t.Errorf("m1's token for other/edge/m1: %d, want 403", code)
	}
}

// TestReportsGoToTheGroupStatus: each report updates the node's entry of its NodesGroup's
// status (server-side apply, field manager flarecast-installserver), a phase change emits an
// event, and a node that reports the desired digest is told to boot its disk. The manager's
// own NodesGroup reconciler runs beside it: neither undoes the other's fields.
func TestReportsGoToTheGroupStatus(t *testing.T) {
	needAPI(t)
	ns := newNamespace(t)
	applySamples(t, ns)
	d := makeDeployable(t, ns, "m1", "m2")
	d.publish(t, ns)
	srv, hs := startInProcess(t, ns, d, true)
	ctx := context.Background()
	eventually(t, 30*time.Second, "the group controller's status", func() bool {
		_, g := groupNode(t, ns, "masters", "m1")
		return g.Status.ObservedGeneration == g.Generation && len(g.Status.Conditions) > 0
	})

	post := func(node, ev string) {
		t.Helper()
		if code, body := call(t, "POST", nodeURL(hs.URL, ns, node, "events"), token(ns, node), ev); code != 204 {
			t.Fatalf("event of %s: %d %s", node, code, body)
		}
	}
	post("m1", `{"phase":"Installing","step":"section archive","bytes":10,"total":100,"percent":10}`)
	post("m2", `{"phase":"Booting","message":"agent started"}`)
	m1, _ := groupNode(t, ns, "masters", "m1")
	if m1.Phase != fcv1.NodeInstalling || m1.Percent != 10 || m1.Step != "section archive" || m1.Address != "127.0.0.1" ||
		m1.LastTransitionTime == nil || m1.Message != "section archive: 10 of 100 bytes" {
		t.Fatalf("m1's entry: %+v", m1)
	}
	// m2's report did not drop what was recorded of m1 (the apply carries every entry).
	if m2, _ := groupNode(t, ns, "masters", "m2"); m2.Phase != fcv1.NodeBooting || m2.Message != "agent started" {
		t.Fatalf("m2's entry: %+v", m2)
	}

	post("m1", `{"phase":"Running","installedDigest":"`+d.digest+`"}`)
	// A DHCP renewal of the running node moves its address, not its phase.
	n1, _ := srv.Site().ByName("m1")
	if err := srv.Status.Leased(ctx, n1, "198.18.7.1"); err != nil {
		t.Fatal(err)
	}
	if m1, _ := groupNode(t, ns, "masters", "m1"); m1.Phase != fcv1.NodeRunning || m1.Address != "198.18.7.1" {
		t.Fatalf("m1 after a renewal: %+v", m1)
	}
	code, body := call(t, "GET", nodeURL(hs.URL, ns, "m1", "plan"), token(ns, "m1"), "")
	if code != 200 || !strings.Contains(body, `"action":"BootLocal"`) {
		t.Fatalf("m1 runs the desired digest, yet: %d %s", code, body)
	}
	if code, body := call(t, "GET", nodeURL(hs.URL, ns, "m2", "plan"), token(ns, "m2"), ""); code != 200 || !strings.Contains(body, `"action":"Install"`) {
		t.Fatalf("m2: %d %s", code, body)
	}
	// The group controller counts the running node, and keeps its own fields.
	eventually(t, 30*time.Second, "the group's running count", func() bool {
		_, g := groupNode(t, ns, "masters", "m1")
		return g.Status.Running == 1
	})

	// A spec change makes the group controller write its status again: the install
	// server's fields stay, and so do the controller's.
	var g fcv1.NodesGroup
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "masters"}, &g); err != nil {
		t.Fatal(err)
	}
	g.Spec.Rollout.MaxUnavailable = 2
	if err := k8s.Update(ctx, &g); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the group controller's status of the new generation", func() bool {
		_, g := groupNode(t, ns, "masters", "m1")
		return g.Status.ObservedGeneration == g.Generation
	})
	m1, after := groupNode(t, ns, "masters", "m1")
	if m1.Phase != fcv1.NodeRunning || m1.InstalledDigest != d.digest || after.Status.Total != 2 || after.Status.Running != 1 {
		t.Fatalf("after the controller's write: m1 %+v, status %+v", m1, after.Status)
	}
	owners := map[string]bool{}
	for _, mf := range after.ManagedFields {
		if mf.Subresource == "status" {
			owners[mf.Manager] = true
		}
	}
	if !owners[installserver.FieldOwner] || !owners["flarecast-manager"] {
		t.Fatalf("status managers: %v", owners)
	}

	// An event per phase change, named after the phase; none for a report in the same phase.
	eventually(t, 30*time.Second, "the phase events", func() bool {
		var evs eventsv1.EventList
		if err := k8s.List(ctx, &evs, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		reasons := map[string]int{}
		for _, e := range evs.Items {
			if e.Regarding.Name == "masters" && strings.HasPrefix(e.Reason, "Node") {
				reasons[e.Reason]++
				if strings.Contains(e.Note, token(ns, "m1")) {
					t.Fatalf("an event holds m1's token: %s", e.Note)
				}
			}
		}
		return reasons["NodeInstalling"] == 1 && reasons["NodeBooting"] == 1 && reasons["NodeRunning"] == 1
	})

}

// TestSiteFollowsTheModel: a change of the model (a NIC's MAC in a Machine) is in force in the
// DHCP table and the scripts without a restart; a Cluster that leaves the site takes its nodes.
func TestSiteFollowsTheModel(t *testing.T) {
	needAPI(t)
	ns := newNamespace(t)
	applySamples(t, ns)
	d := makeDeployable(t, ns)
	srv, _ := startInProcess(t, ns, d, false)
	ctx := context.Background()
	var m fcv1.Machine
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "edge-rack1"}, &m); err != nil {
		t.Fatal(err)
	}
	m.Spec.Shelves[0].Drawers[0].Boards[0].NICs[0].MAC = "52:54:00:fc:0a:10"
	if err := k8s.Update(ctx, &m); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "m1's new MAC in the table", func() bool {
		n, ok := srv.Site().ByName("m1")
		if !ok || n.MAC != "52:54:00:fc:0a:10" {
			return false
		}
		for _, dn := range srv.Site().Table.Nodes {
			if dn.Name == "m1" {
				return len(dn.MACs) == 1 && dn.MACs[0].String() == "52:54:00:fc:0a:10"
			}
		}
		return false
	})
	var cl fcv1.Cluster
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "edge"}, &cl); err != nil {
		t.Fatal(err)
	}
	cl.Spec.InstallServer.Site = "elsewhere"
	if err := k8s.Update(ctx, &cl); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the site without Cluster edge", func() bool { return len(srv.Site().Table.Nodes) == 0 })
}

// TestSiteSecretIsMadeOnceAndKept: the first install server of a site makes its Secret, the
// next ones (and restarts) read the same secret; a Secret with too short a key is refused.
func TestSiteSecretIsMadeOnceAndKept(t *testing.T) {
	needAPI(t)
	ns := newNamespace(t)
	ctx := context.Background()
	name := client.ObjectKey{Namespace: ns, Name: installserver.DefaultSecretName("edge-dc")}
	first, err := installserver.SiteSecret(ctx, k8s, k8s, name)
	if err != nil || len(first) != 32 {
		t.Fatalf("made: %d bytes, %v", len(first), err)
	}
	again, err := installserver.SiteSecret(ctx, k8s, k8s, name)
	if err != nil || string(again) != string(first) {
		t.Fatalf("read again: a different secret (%v)", err)
	}
	var s corev1.Secret
	if err := k8s.Get(ctx, name, &s); err != nil {
		t.Fatal(err)
	}
	s.Data[installserver.SecretKey] = []byte("short")
	if err := k8s.Update(ctx, &s); err != nil {
		t.Fatal(err)
	}
	if _, err := installserver.SiteSecret(ctx, k8s, k8s, name); err == nil || !strings.Contains(err.Error(), "want at least 16 random bytes") {
		t.Fatalf("a short secret: %v", err)
	}
}

// TestARAMRootNodeGetsItsPlanWithoutAnExport: a node of a RAM root group is answered its
// plan and its archive's blobs with no NFS root (none is made for the group), where a node
// of an NFS root group waits for its export (the in-process server here serves none).
func TestARAMRootNodeGetsItsPlanWithoutAnExport(t *testing.T) {
	needAPI(t)
	ns := newNamespace(t)
	s := loadSamples(t, ns)
	for _, g := range s.Groups {
		if g.Name == "diskless" {
			g.Spec.Diskless = &fcv1.DisklessSpec{Root: fcv1.DisklessRootRAM, Writes: fcv1.DisklessWritesTmpfs}
		}
	}
	for _, o := range s.objects() {
		if err := k8s.Create(context.Background(), o); err != nil {
			t.Fatal(err)
		}
	}
	d := makeDeployableWith(t, filepath.Join(t.TempDir(), "repo"), ns, "diskless", "ID=flarecast-test\n", func(p *installplan.Plan) {
		if p.Node == "n5" {
			p.Root = installplan.RootRAM
		}
	}, "n5", "n6")
	d.publish(t, ns)
	_, hs := startInProcess(t, ns, d, false)
	code, body := call(t, "GET", nodeURL(hs.URL, ns, "n5", "plan"), token(ns, "n5"), "")
	if code != 200 {
		t.Fatalf("plan of n5: %d %s", code, body)
	}
	var pr installplan.PlanResponse
	if err := json.Unmarshal([]byte(body), &pr); err != nil {
		t.Fatal(err)
	}
	if pr.Plan.Root != installplan.RootRAM || pr.NFSRoot != nil || pr.NFSWrites != nil || pr.Archive.Digest != d.digest || len(pr.Archive.Sections) < 2 {
		t.Errorf("n5 (RAM root): %+v", pr)
	}
	// n6's plan (from the same archive) still says NFS: it waits for an export.
	if code, body := call(t, "GET", nodeURL(hs.URL, ns, "n6", "plan"), token(ns, "n6"), ""); code != 503 || !strings.Contains(body, "NFS root") {
		t.Errorf("plan of n6 (NFS root, no export served): %d %s", code, body)
	}
}
