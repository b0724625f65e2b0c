package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/internal/initramfs"
	"github.com/flarecast/flarecast/internal/installplan"
	"github.com/flarecast/flarecast/internal/model"
	"github.com/flarecast/flarecast/internal/render"
)

// The diskless node's network, apart from the PXE install's.
const (
	dlServerIP = "198.19.207.1"
	dlNodeIP   = "198.19.207.10"
)

// disklessModel is a site with one diskless blade (no disk in its drawer) in a Diskless
// group whose root is the default: the install server's NFS export under a tmpfs overlay.
// Its FirstBoot script runs in the assembled root before the switch; its AfterServices
// script after systemd started the root's services.
const disklessModel = `
apiVersion: flarecast.io/v1alpha1
kind: Machine
metadata: {name: dl-rack}
spec:
  shelves:
    - name: shelf0
      switches: [{name: sw0, ports: 8}]
      drawers:
        - name: d1
          boards:
            - name: cpu0
              arch: amd64
              firmware: BIOS
              nics:
                - {name: eth0, mac: "` + nodeMAC + `", link: {switch: sw0, port: 1}}
---
apiVersion: flarecast.io/v1alpha1
kind: Network
metadata: {name: dl-net}
spec:
  networks:
    - name: internal
      cidr: 198.19.207.0/24
      switches: [dl-rack/shelf0/sw0]
      interface: eth0
      addressing: Static
      provisioning: true
  addresses:
    - {node: n5, network: internal, ip: ` + dlNodeIP + `}
---
apiVersion: flarecast.io/v1alpha1
kind: Cluster
metadata: {name: edge}
spec:
  domain: 0
  machineRefs: [{name: dl-rack}]
  networkRef: {name: dl-net}
  masterEligiblePolicy: Warn
  installServer: {site: dl-site, mode: Local}
---
apiVersion: flarecast.io/v1alpha1
kind: NodesGroup
metadata: {name: diskless}
spec:
  clusterRef: {name: edge}
  role: NonMasterEligible
  nodeType: Diskless
  os: {name: debian, version: "12"}
  arch: amd64
  configuration:
    scripts:
      - name: 10-first
        stage: FirstBoot
        order: 10
        source: {inline: "#!/bin/sh\necho \"first boot of $(cat /etc/hostname)\" > /root/first\n"}
      - name: 50-after
        stage: AfterServices
        order: 50
        source: {inline: "#!/bin/sh\necho \"flarecast-e2e: after on $(hostname), / is $(stat -f -c %T /), $(cat /root/first)\" > /dev/console\n"}
  nodes:
    - {name: n5, id: 5, drawer: dl-rack/shelf0/d1}
  archiveRef: {name: debian-base}
`

// TestADisklessNodeBootsItsNFSRootToRunning: a qemu TCG guest with no disk PXE-boots from
// the real `flarecast installserver` (envtest's API server, the model above, the Debian
// deployable); the agent, /init of the install server's initramfs, gets its plan, mounts
// the group's NFS export read-only under an overlay on a tmpfs, writes the node's files,
// runs the FirstBoot script chrooted in it and switches into it; the Debian base's systemd
// boots from there with the network the initramfs raised, runs the AfterServices script,
// and n5 is Running with the deployable's digest in NodesGroup diskless's status.nodes. The
// export's tree is as the install server made it: the node's writes stayed on its tmpfs.
func TestADisklessNodeBootsItsNFSRootToRunning(t *testing.T) {
	disklessBoot(t, installplan.RootNFS, "1024", "overlayfs")
}

// TestADisklessNodeBootsARAMRootToRunning: the same node with root RAM (set in its plan,
// which the test renders into the deployable: the API's choice is another lane's) streams
// the deployable's sections into a tmpfs, verified as a disk install verifies them, and
// boots that. The Debian base holds 681 MiB of files: the guest has 1536 MiB, whose RAM
// root may take 1024 MiB.
func TestADisklessNodeBootsARAMRootToRunning(t *testing.T) {
	disklessBoot(t, installplan.RootRAM, "1536", "tmpfs")
}

// disklessBoot boots n5 of disklessModel with the root given, on a guest of mem MiB, to
// Running, and checks that its AfterServices script saw / on the file system fs.
func disklessBoot(t *testing.T, root, mem, fs string) {
	r := startDiskless(t, disklessModel, root)
	r.boot(t, mem, "serial-diskless.log", "")
	r.checkAfterServices(t, fs)
}

// disklessRun is n5's lab, API server and install server, with the deployable served.
type disklessRun struct {
	l          *lab
	k8s        client.Client
	ns, digest string
	state      string
	out        fmt.Stringer
	start      time.Time
	// qemu and serial are the guest of the last boot and its console file.
	qemu   *proc
	serial string
}

// startDiskless serves n5 of modelYAML (the one group diskless) with its group's plan's root
// set to root: the lab, envtest's API server with the model, the Debian deployable and the
// real install server.
func startDiskless(t *testing.T, modelYAML, root string) *disklessRun {
	requireE2E(t)
	base := os.Getenv("FLARECAST_DEBIAN_BASE")
	if base == "" {
		base = filepath.Join("..", "..", "bin", "debian-base.tar")
	}
	if _, err := os.Stat(base); err != nil {
		t.Fatalf("no bootable Debian base at %s (hack/debian-base.sh builds it): %v", base, err)
	}
	start := time.Now()
	l, host := pxeLab(t, "nfs", dlServerIP)
	k8s, kubeconfig := startAPIServer(t, l.dir)
	ctx := context.Background()
	ns := "diskless"
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	in := applyModel(t, k8s, ns, l.dir, modelYAML)
	res := model.Resolve(in)
	plans := render.InstallPlans(in.Cluster, in.Groups, res)
	if len(res.Problems) > 0 || len(plans) != 1 || plans[0].NodeType != "Diskless" || plans[0].Root != "NFS" || len(plans[0].Disks) != 0 {
		t.Fatalf("the model renders plans %+v (resolve: %+v)", plans, res)
	}
	plans[0].Root = root
	repo, digest := debianDeployable(t, l.dir, base, in, plans)
	publishDeployable(t, k8s, ns, "diskless", digest)
	t.Logf("packed and derived the Debian deployable %s in %s", digest, time.Since(start).Round(time.Second))

	img, err := initramfs.Build(initramfs.Spec{Init: agentBinary(t)}, filepath.Join(l.dir, "cache"))
	if err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(l.dir, "secret")
	if err := os.WriteFile(secret, []byte("diskless e2e site secret, not a real one"), 0o600); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(l.dir, "state")
	out := startInstallServer(t, l.dir, "--kernel-arg", "console=ttyS0,115200n8", "--kernel-arg", "no_timer_check", "--kubeconfig", kubeconfig, "--namespace", ns, "--site", "dl-site", "--interface", host,
		"--address", dlServerIP, "--repo", repo, "--boot-dir", "/usr/lib/ipxe", "--kernel", "/boot/vmlinuz-"+img.KernelVersion,
		"--initramfs", img.Path, "--state-dir", state, "--secret-file", secret, "--log-development", "--v", "1")
	return &disklessRun{l: l, k8s: k8s, ns: ns, digest: digest, state: state, out: out, start: start}
}

// boot powers n5 on (a guest of mem MiB, its console to the file serial) and waits until
// its status says Running with the deployable's digest and, when mark is not empty, its
// console shows mark (the status of an earlier boot says Running already).
func (r *disklessRun) boot(t *testing.T, mem, serial, mark string) {
	t.Helper()
	ctx := context.Background()
	r.serial = filepath.Join(r.l.dir, serial)
	qemuStart := time.Now()
	p := r.l.start("qemu-"+strings.TrimSuffix(serial, ".log"), "qemu-system-x86_64", "-accel", "tcg", "-m", mem, "-smp", "1",
		"-display", "none", "-monitor", "none", "-no-reboot", "-serial", "file:"+r.serial,
		"-netdev", "tap,id=n0,ifname="+tap+",script=no,downscript=no", "-device", "virtio-net-pci,netdev=n0,mac="+nodeMAC+",bootindex=1")
	r.qemu = p

	var seen []string
	phaseAt := map[fcv1.NodePhase]bool{}
	limit := 2 * bootTimeout
	deadline := time.Now().Add(limit)
	var node fcv1.NodeStatus
	for {
		var g fcv1.NodesGroup
		if err := r.k8s.Get(ctx, client.ObjectKey{Namespace: r.ns, Name: "diskless"}, &g); err != nil {
			t.Fatal(err)
		}
		for _, n := range g.Status.Nodes {
			if n.Name == "n5" {
				node = n
			}
		}
		if node.Phase != "" && !phaseAt[node.Phase] {
			phaseAt[node.Phase] = true
			seen = append(seen, fmt.Sprintf("%s at %s (%s)", node.Phase, time.Since(qemuStart).Round(time.Second), node.Message))
		}
		marked := mark == "" || strings.Contains(readFile(t, r.serial), mark)
		if (node.Phase == fcv1.NodeRunning && marked) || node.Phase == fcv1.NodeFailed {
			break
		}
		select {
		case <-p.done:
			t.Fatalf("qemu ended (%v); n5 went %s\nserial console:\n%s\nqemu:\n%s", p.cmd.ProcessState, strings.Join(seen, ", "), tail(readFile(t, r.serial)), readFile(t, p.log))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("n5 is not Running after %s; it went %s\nserial console:\n%s\ninstall server:\n%s", limit, strings.Join(seen, ", "), tail(readFile(t, r.serial)), tailN(r.out.String(), 40))
		}
		time.Sleep(time.Second)
	}
	t.Logf("n5 went %s", strings.Join(seen, ", "))
	if node.Phase != fcv1.NodeRunning || node.InstalledDigest != r.digest {
		t.Fatalf("n5 is %s (%s) with installedDigest %q, want Running with %s\nserial console:\n%s", node.Phase, node.Message, node.InstalledDigest, r.digest, tail(readFile(t, r.serial)))
	}
	t.Logf("power-on to Running in %s; the whole test so far %s", time.Since(qemuStart).Round(time.Second), time.Since(r.start).Round(time.Second))
}

// powerOff pulls the plug of the last boot's guest.
func (r *disklessRun) powerOff() {
	syscall.Kill(-r.qemu.cmd.Process.Pid, syscall.SIGKILL)
	<-r.qemu.done
}

// checkAfterServices checks that the AfterServices script of disklessModel saw / on the
// file system fs and the FirstBoot script's mark, and that the export's tree holds none of
// the node's writes.
func (r *disklessRun) checkAfterServices(t *testing.T, fs string) {
	t.Helper()
	state := r.state
	console := readFile(t, r.serial)
	if dst := os.Getenv("FLARECAST_QEMU_CONSOLE"); dst != "" {
		os.WriteFile(dst, []byte(console), 0o644)
	}
	if want := "flarecast-e2e: after on n5, / is " + fs + ", first boot of n5"; !strings.Contains(console, want) {
		t.Errorf("the console does not show %q (the AfterServices script in the switched root):\n%s", want, tail(console))
	}
	// The export is the deployable's tree as the install server made it: nothing the node
	// wrote is in it.
	var hostnames []string
	filepath.WalkDir(state, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, "/etc/hostname") {
			hostnames = append(hostnames, p)
		}
		if err == nil && d.Name() == "first" && strings.HasSuffix(filepath.Dir(p), "/root") {
			t.Errorf("the FirstBoot script's mark is in the export: %s", p)
		}
		return nil
	})
	if len(hostnames) > 0 {
		t.Errorf("the node's host name was written into the export: %v", hostnames)
	}
}
