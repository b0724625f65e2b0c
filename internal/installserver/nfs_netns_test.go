package installserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/controllers"
	"github.com/flarecast/flarecast/internal/archive"
	"github.com/flarecast/flarecast/internal/installplan"
)

// TestInstallServerCommandExportsDisklessRoots: the real command, serving the sample site
// whose group diskless is Diskless, exports that group's deployable over NFS once it is
// built: libnfs's nfs-cat, from a namespace of its own on the bridge, reads a file of the
// deployable through /flarecast/<namespace>/diskless on --nfs-port; n5's boot script names
// its root (flarecast.nfsroot=) and its plan response says where it is and of which digest.
func TestInstallServerCommandExportsDisklessRoots(t *testing.T) {
	needAPI(t)
	needPeers(t, "nfs-cat", "curl")
	ns := newNamespace(t)
	applySamples(t, ns)
	d := makeGroupDeployable(t, ns, "diskless", "n5")
	d.publish(t, ns)

	l := newLAN(t)
	clientNS := l.client("c", "52:54:00:fc:00:55", "198.18.7.55")
	clientNS.IP("addr", "add", "198.18.7.55/16", "dev", "eth0")

	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, testSecret, 0o600); err != nil {
		t.Fatal(err)
	}
	const nfsPort = 20490
	startCLI(t, "--namespace", ns, "--site", "edge-dc", "--interface", l.iface,
		"--repo", d.repo, "--boot-dir", "/usr/lib/ipxe", "--nfs-port", fmt.Sprint(nfsPort),
		"--state-dir", filepath.Join(dir, "state"), "--secret-file", secretFile, "--log-development")
	export := "/flarecast/" + ns + "/diskless"
	url := fmt.Sprintf("nfs://%s%s/etc/os-release?version=3&nfsport=%d&mountport=%d&auto-traverse-mounts=0", l.server, export, nfsPort, nfsPort)
	var got []byte
	eventually(t, 90*time.Second, "nfs-cat to read etc/os-release from the export", func() bool {
		var err error
		got, err = clientNS.Command("nfs-cat", url).Output()
		return err == nil && string(got) == "ID=flarecast-test\n"
	})
	// A path no group has is refused.
	if out, err := clientNS.Command("nfs-cat", strings.Replace(url, "/diskless/", "/nobody/", 1)).CombinedOutput(); err == nil {
		t.Errorf("nfs-cat of an export no group has: %s", out)
	}

	base := "http://" + l.server + ":8080"
	script, err := exec.Command("curl", "-sf", base+"/ipxe/n5").Output()
	if want := fmt.Sprintf("%s=%s:%d:%s", installplan.ArgNFSRoot, l.server, nfsPort, export); err != nil || !strings.Contains(string(script), want) {
		t.Errorf("n5's script (%v) lacks %s:\n%s", err, want, script)
	}
	// The export's state is recorded just after the NFS server serves it: a plan request
	// between the two is told to wait, so the test asks until it is answered.
	plan := func(what string) installplan.PlanResponse {
		t.Helper()
		var resp installplan.PlanResponse
		var body []byte
		eventually(t, 30*time.Second, what, func() bool {
			var err error
			body, err = exec.Command("curl", "-sf", "-H", "Authorization: Bearer "+token(ns, "n5"), base+"/agent/v1/nodes/"+ns+"/edge/n5/plan").Output()
			return err == nil
		})
		if err := json.Unmarshal(body, &resp); err != nil {
			t.Fatalf("%s: %v\n%s", what, err, bytes.TrimSpace(body))
		}
		return resp
	}
	resp := plan("n5's plan")
	want := installplan.NFSRoot{Server: l.server, Port: nfsPort, Path: export, Digest: d.digest}
	if resp.NFSRoot == nil || *resp.NFSRoot != want {
		t.Errorf("n5's plan response NFSRoot %+v, want %+v", resp.NFSRoot, want)
	}

	// The group's deployable is rebuilt (another digest, in the same repository): the
	// export follows it, and the old digest's tree goes.
	oldTree := filepath.Join(dir, "state", "nfs", "trees", strings.ReplaceAll(d.digest, ":", "-"))
	if _, err := os.Stat(oldTree); err != nil {
		t.Fatalf("the tree of %s: %v", d.digest, err)
	}
	d2 := makeDeployableAt(t, d.repo, ns, "diskless", "ID=flarecast-test-2\n", "n5")
	var fa fcv1.FlashArchive
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: controllers.DeployableName("edge", "diskless")}, &fa); err != nil {
		t.Fatal(err)
	}
	fa.Status.Digest = d2.digest
	if err := k8s.Status().Update(context.Background(), &fa); err != nil {
		t.Fatal(err)
	}
	eventually(t, 90*time.Second, "nfs-cat to read the new deployable's etc/os-release", func() bool {
		got, err = clientNS.Command("nfs-cat", url).Output()
		return err == nil && string(got) == "ID=flarecast-test-2\n"
	})
	eventually(t, 30*time.Second, "the old digest's tree removed", func() bool {
		_, err := os.Stat(oldTree)
		return os.IsNotExist(err)
	})
	resp = plan("n5's plan after the rebuild")
	if resp.NFSRoot == nil || resp.NFSRoot.Digest != d2.digest || resp.Archive.Digest != d2.digest {
		t.Errorf("n5's plan after the rebuild: NFSRoot %+v, archive %s; want %s", resp.NFSRoot, resp.Archive.Digest, d2.digest)
	}

	// A rebuild whose binary section's blob is damaged: no tree is made of it, a Warning
	// event of the group says why, n5's plan request is told to wait (503, naming the
	// reason), and the previous tree keeps being served to the nodes that run it.
	d3 := makeDeployableAt(t, d.repo, ns, "diskless", "ID=flarecast-test-3\n", "n5")
	tamperSection(t, d3)
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: fa.Name}, &fa); err != nil {
		t.Fatal(err)
	}
	fa.Status.Digest = d3.digest
	if err := k8s.Status().Update(context.Background(), &fa); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "a Warning NFSExportFailed event of NodesGroup diskless", func() bool {
		var evs eventsv1.EventList
		if err := k8s.List(context.Background(), &evs, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		for _, e := range evs.Items {
			if e.Regarding.Name == "diskless" && e.Reason == "NFSExportFailed" && e.Type == "Warning" && strings.Contains(e.Note, export) {
				return true
			}
		}
		return false
	})
	// The event comes while the tree is tried, the refusal's state just after.
	var out []byte
	eventually(t, 30*time.Second, "n5's plan request refused naming the damaged deployable", func() bool {
		out, _ = exec.Command("curl", "-s", "-w", "\n%{http_code}", "-H", "Authorization: Bearer "+token(ns, "n5"), base+"/agent/v1/nodes/"+ns+"/edge/n5/plan").Output()
		return strings.HasSuffix(string(out), "\n503") && strings.Contains(string(out), "could not be made from "+d3.digest)
	})
	if got, err := clientNS.Command("nfs-cat", url).Output(); err != nil || string(got) != "ID=flarecast-test-2\n" {
		t.Errorf("the previous tree is not served while the new one cannot be made: %q %v", got, err)
	}
}

// tamperSection changes a byte of the deployable's binary section blob, its descriptor
// unchanged.
func tamperSection(t *testing.T, d *deployable) {
	t.Helper()
	a, err := archive.Load(context.Background(), d.store, d.digest)
	if err != nil {
		t.Fatal(err)
	}
	sec := archive.Sections(a.Manifest)[0].Descriptor.Digest
	blob := filepath.Join(d.repo, "blobs", sec.Algorithm().String(), sec.Encoded())
	b, err := os.ReadFile(blob)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	os.Chmod(blob, 0o644)
	if err := os.WriteFile(blob, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
