package installserver_test

import (
	"context"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/internal/agent"
	"github.com/flarecast/flarecast/internal/installplan"
	"github.com/flarecast/flarecast/internal/testsupport/diskimage"
	"github.com/flarecast/flarecast/internal/testsupport/logbuf"
	"github.com/flarecast/flarecast/internal/testsupport/netlab"
)

var agentBuild struct {
	once      sync.Once
	dir, path string
	err       error
	out       []byte
}

// agentBinary builds flarecast-agent as `make agent` does (static, stripped), once per run
// of the suite; TestMain removes it.
func agentBinary(t *testing.T) string {
	t.Helper()
	b := &agentBuild
	b.once.Do(func() {
		if b.dir, b.err = os.MkdirTemp("", "flarecast-agent-build-"); b.err != nil {
			return
		}
		b.path = filepath.Join(b.dir, "flarecast-agent")
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", b.path, "github.com/flarecast/flarecast/cmd/flarecast-agent")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		b.out, b.err = cmd.CombinedOutput()
	})
	if b.err != nil {
		t.Fatalf("go build flarecast-agent: %v\n%s", b.err, b.out)
	}
	return b.path
}

func removeAgentBuild() {
	if agentBuild.dir != "" {
		os.RemoveAll(agentBuild.dir)
	}
}

// The simulated node's network: the install server's HTTP side in a namespace of its own,
// the node in another, a veth between them.
const (
	simServerIP = "198.18.0.1"
	simNodeIP   = "198.18.0.11"
	simPort     = 8080
)

// diskPlan gives a masters' plan one disk of 256 MiB, d0, laid out as the simulated nodes'
// plans are (BIOS: /boot, swap and the root; the machines that run the tests may lack vfat for
// an ESP), for an agent that installs no boot loader.
func diskPlan(p *installplan.Plan) {
	const mib = int64(1) << 20
	p.Firmware = "BIOS"
	p.Disks = []installplan.Disk{{Name: "d0", Device: "/dev/vda", Size: 256 * mib, Slices: []installplan.Slice{
		{Name: "boot", Index: 1, Size: 16 * mib, FSType: "ext4", MountPoint: "/boot", Label: "boot"},
		{Name: "swap", Index: 2, Size: 16 * mib, FSType: "swap"},
		{Name: "root", Index: 3, FSType: "ext4", MountPoint: "/", Label: "root"},
	}}}
}

// simulatedDiskNode is node m1 of the masters as a simulated node: the real agent binary in
// a network namespace, its disk a 256 MiB image, against the install server on the other end
// of its veth.
type simulatedDiskNode struct {
	netns *netlab.Netns
	image string
}

// install runs the agent on the node until it ends, as the initramfs would, and fails the
// test if it does not install.
func (n *simulatedDiskNode) install(t *testing.T, ns string) {
	t.Helper()
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(installplan.Token(testSecret, ns, "edge", "m1")), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", n.netns.Name, agentBinary(t),
		"--server", "http://"+simServerIP+":8080", "--node", ns+"/edge/m1", "--token-file", tokenFile, "--cmdline", "/dev/null",
		"--disk-map", "d0="+n.image, "--root", t.TempDir(), "--on-failure", "exit", "--min-backoff", "50ms", "--no-boot-loader")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the agent did not install m1: %v\n%s", err, out)
	}
}

// boot mounts the installed root file system and its /boot, as the node's own system would
// at boot, and runs the later stages with the agent the install left in the root.
func (n *simulatedDiskNode) boot(t *testing.T) string {
	t.Helper()
	root := diskimage.Mount(t, n.image, 3, "rw")
	diskimage.MountAt(t, n.image, 1, "rw", filepath.Join(root, "boot"))
	for _, stage := range []string{agent.StageBeforeServices, agent.StageAfterServices} {
		if out, err := n.netns.Output(filepath.Join(root, agent.ResidentBinary), "stage", stage, "--root", root, "--no-reboot"); err != nil {
			t.Fatalf("stage %s: %v\n%s", stage, err, out)
		}
	}
	return root
}

// resident runs the installed resident agent on the node until the test ends (its output
// shown if the test fails).
func (n *simulatedDiskNode) resident(t *testing.T, root string) {
	t.Helper()
	out := &logbuf.Buffer{}
	cmd := n.netns.Command(filepath.Join(root, agent.ResidentBinary), "resident", "--root", root, "--interval", "300ms")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if t.Failed() {
			t.Logf("the resident agent's output:\n%s", out)
		}
	})
}

// TestCaptureOfAnInstalledSimulatedNodeMatchesItsRoot: node m1, a simulated node (the real
// flarecast-agent binary in a network namespace, a loop-file disk), installs the masters'
// deployable from the install server onto its disk; its root file system (and its /boot,
// another file system) are mounted as its own system mounts them, its later stages run, and
// its installed resident agent reports Running. A person tunes it, and it holds what is
// its own (host keys, machine-id, the agent's token, the pseudo file systems' contents, a
// shared mount's data). A FlashArchive with source.capture naming m1 is reconciled: the
// node's resident agent streams its root from the loop disk's file system, and the Generic
// archive's tree is the node's root less the exclusions, which the archive's inputs list.
func TestCaptureOfAnInstalledSimulatedNodeMatchesItsRoot(t *testing.T) {
	needAPI(t)
	netlab.RequirePeers(t, "losetup", "sgdisk", "mkfs.ext4", "mkswap", "mount", "go")
	start := time.Now()
	ns, repo, store, d := prototypeSite(t, diskPlan)

	srvNS := netlab.NewNetns(t, "iscap-srv")
	node := &simulatedDiskNode{netns: netlab.NewNetns(t, "iscap-m1"), image: filepath.Join(t.TempDir(), "m1.img")}
	netlab.Link(t, srvNS, "eth0", simServerIP+"/24", node.netns, "eth0", simNodeIP+"/24")
	var l net.Listener
	if err := srvNS.InNetns(func() (err error) {
		l, err = net.Listen("tcp", net.JoinHostPort(simServerIP, "8080"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, ns, serverSetup{store: store, groups: true, clusters: true, serves: "m1",
		listener: l, address: netip.MustParseAddr(simServerIP), port: simPort})
	reconcileArchives(t, ts.Cached, store, repo, ns, "proto-node")
	if err := os.WriteFile(node.image, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(node.image, 256<<20); err != nil {
		t.Fatal(err)
	}
	agentBinary(t)
	t.Logf("the site, the install server and the agent binary ready in %s", time.Since(start).Round(time.Millisecond))
	built := time.Now()

	node.install(t, ns)
	root := node.boot(t)
	// The kernel on /boot is another file system's.
	tuneNode(t, root, map[string]string{"boot/vmlinuz": "not really a kernel\n"})
	node.resident(t, root)
	eventually(t, 30*time.Second, "m1 Running the deployable in its group's status", func() bool {
		s, _ := groupNode(t, ns, "masters", "m1")
		return s.Phase == fcv1.NodeRunning && s.InstalledDigest == d.digest
	})
	installed := time.Now()

	captureArchive(t, ns, "proto-node")
	fa := readyArchive(t, ns, "proto-node")
	t.Logf("m1 installed and Running in %s, captured in %s", installed.Sub(built).Round(time.Millisecond), time.Since(installed).Round(time.Millisecond))
	checkCapture(t, store, ns, fa, root, []string{"usr/lib/flarecast", "etc/fstab", "boot/*"},
		[]string{"usr/bin/tool-again", "etc/os-release", "boot"}, []string{agent.ResidentBinary, "etc/hostname", "boot/vmlinuz", "tmp/scratch"})
}
