package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flarecast/flarecast/internal/agent"
	"github.com/flarecast/flarecast/internal/installplan"
)

// TestTheResidentAgentBinaryReinstallsASimulatedNodeWhenTold: "flarecast-agent resident
// --simulated" on a node that runs another digest beats Running with it, is told to install
// the group's deployable, reports Rebooting, installs it in place (its directory root), runs
// the stages up to Running with the new digest, and goes on beating with it, not
// reinstalling again (the server still says Install of that same digest).
func TestTheResidentAgentBinaryReinstallsASimulatedNodeWhenTold(t *testing.T) {
	needSimPeers(t)
	s := newSite(t)
	p := plan("n7", 256*mib)
	a := s.deployable("c1-g", nil, []installplan.Plan{p})
	s.serve(p, a, "")
	n := s.newNode("n7", 256*mib)
	old := "sha256:" + strings.Repeat("0", 64)
	root := t.TempDir()
	for _, d := range []string{"etc/flarecast", agent.StageDir} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	cfg, _ := json.Marshal(agent.Resident{Server: serverURL, Node: ns + "/" + cluster + "/n7", Token: installplan.Token(siteSecret, ns, cluster, "n7")})
	os.WriteFile(filepath.Join(root, agent.ResidentConfig), cfg, 0o600)
	os.WriteFile(filepath.Join(root, agent.InstalledRecord), []byte(`{"node":"sim/c1/n7","archive":"c1-g","digest":"`+old+`"}`), 0o644)
	os.WriteFile(filepath.Join(root, agent.StageDir, "after-services.done"), []byte("done\n"), 0o644)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", n.netns, agentBinary(t), "resident", "--simulated", "--root", root, "--interval", "200ms")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	digest := a.Descriptor.Digest.String()
	beatsOf := func(d string) (n int) {
		for _, e := range s.events("n7") {
			if e.Phase == installplan.PhaseRunning && e.Step == "heartbeat" && e.InstalledDigest == d {
				n++
			}
		}
		return n
	}
	deadline := time.Now().Add(90 * time.Second)
	for beatsOf(digest) < 3 {
		if time.Now().After(deadline) {
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
			t.Fatalf("no heartbeats with the new digest; events %+v\n%s", s.events("n7"), out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the resident agent on SIGTERM: %v\n%s", err, out.String())
	}
	var phases []string
	for _, e := range s.events("n7") {
		if len(phases) == 0 || phases[len(phases)-1] != string(e.Phase) {
			phases = append(phases, string(e.Phase))
		}
	}
	if got, want := strings.Join(phases, " "), "Running Rebooting Booting Installing Configuring Rebooting Configuring Running"; got != want {
		t.Errorf("phases %s, want %s", got, want)
	}
	if beatsOf(old) < 1 {
		t.Error("no heartbeat with the digest the node ran before")
	}
	if got := read(t, filepath.Join(root, "etc/hostname")); got != "n7\n" {
		t.Errorf("the reinstalled root's host name %q", got)
	}
	if d, err := agent.InstalledDigest(root); err != nil || d != digest {
		t.Errorf("the reinstalled root records %s (%v), want %s", d, err, digest)
	}
	if _, err := os.Stat(filepath.Join(root, agent.ResidentBinary)); err != nil {
		t.Errorf("the reinstall left no resident agent in the root: %v", err)
	}
}

// A Diskless node's resident agent sets no next boot before a reinstall (there is no disk
// to boot instead of the network, and NextBoot would refuse a BIOS node without GRUB's
// iPXE entry); a disk install's does.
func TestADisklessNodesResidentAgentRebootsWithoutANextBoot(t *testing.T) {
	for root, want := range map[string]bool{"": true, installplan.RootNFS: false, installplan.RootRAM: false} {
		dir := t.TempDir()
		os.MkdirAll(filepath.Join(dir, filepath.Dir(agent.InstalledRecord)), 0o755)
		rec, _ := json.Marshal(map[string]string{"node": "ns/c/n5", "archive": "a", "digest": "sha256:" + strings.Repeat("a", 64), "root": root})
		os.WriteFile(filepath.Join(dir, agent.InstalledRecord), rec, 0o644)
		set, err := nextBootFor(dir, agent.NextBoot{Root: dir, Sysfs: t.TempDir()})
		if err != nil || (set != nil) != want {
			t.Errorf("root %q: a next boot to set: %v (%v), want %v", root, set != nil, err, want)
		}
	}
	if _, err := nextBootFor(t.TempDir(), agent.NextBoot{}); err == nil {
		t.Errorf("a root with no installed record")
	}
}
