package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/fat32"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/controllers"
	"github.com/flarecast/flarecast/internal/cli"
	"github.com/flarecast/flarecast/internal/initramfs"
	"github.com/flarecast/flarecast/internal/installserver"
	"github.com/flarecast/flarecast/internal/model"
	"github.com/flarecast/flarecast/internal/model/manifest"
	"github.com/flarecast/flarecast/internal/modelsource"
	"github.com/flarecast/flarecast/internal/render"
	"github.com/flarecast/flarecast/internal/testsupport/logbuf"
)

// The PXE install's network: the install server runs on this machine (as an operator runs
// it), on the host end of a veth whose other end is on the lab's bridge with qemu's tap.
// A /24 of 198.18.0.0/15 per firmware, apart from the other tests' addresses (and from each
// other: the two installs may run at once, from two test processes).
func pxeNet(fw firmware) string {
	return map[firmware]string{bios: "198.19.206", uefi: "198.19.208"}[fw]
}

func pxeServerIP(fw firmware) string { return pxeNet(fw) + ".1" }

const (
	pxeSerial   = "FCE2E-PXE-0001"
	pxeDiskSize = 3 << 30
)

// pxeModel is the site: one node of firmware fw with a virtio disk (found by its serial) and
// one NIC on the provisioning network, in a group that runs a BeforeServices and an
// AfterServices script with the second reboot. A UEFI node's disk starts with its EFI system
// partition: 512 MiB, so that mkfs.vfat makes it FAT32, which UEFI firmware is required to read.
// The BIOS node's group is Dataless: it mounts the shared data the install server serves at
// pxeShareMount, and a third script reads and writes there. The UEFI node's third script
// says on the console which boot entry the firmware started (pxeBooted).
func pxeModel(fw firmware) string {
	nodeType, shared, scripts := "Diskfull", "", pxeBootedScript
	if fw == bios {
		nodeType = "Dataless"
		shared = "  sharedData:\n    - {name: " + pxeShare + ", mountPoint: " + pxeShareMount + "}\n"
		scripts = pxeShareScript
	}
	return strings.NewReplacer("FIRMWARE", map[firmware]string{bios: "BIOS", uefi: "UEFI"}[fw], "SLICES", pxeSlices(fw), "NET.", pxeNet(fw)+".",
		"NODETYPE", nodeType, "SHARED\n", shared, "SHARESCRIPT\n", scripts).Replace(pxeModelTemplate)
}

// pxeBootedScript prints the firmware's BootCurrent entry as efibootmgr lists it, once per
// install (the AfterServices stage): what the installed system sees of its boot, beside
// OVMF's own console line. printf, not dash's echo, which reads \f in \EFI\flarecast as a
// form feed.
const pxeBootedScript = `      - name: 60-booted
        stage: AfterServices
        order: 60
        source: {inline: "#!/bin/sh\ncur=$(efibootmgr | sed -n 's/^BootCurrent: //p')\nprintf 'flarecast-e2e: booted %s\\n' \"$(efibootmgr -v | grep \"^Boot$cur\")\" > /dev/console\n"}
`

// pxeBooted is the line of pxeBootedScript: the entry's number, label and device path.
var pxeBooted = regexp.MustCompile(`flarecast-e2e: booted Boot([0-9A-F]{4})\*? ([^\t\r\n]*)\t([^\r\n]*)`)

// The BIOS node's shared data: its name, where it is mounted, and the AfterServices script
// that leaves on the node's root the mount table's line of it and what it read there, and
// writes a file into it for the test to find on the install server.
const (
	pxeShare       = "share"
	pxeShareMount  = "/srv/share"
	pxeShareScript = `      - name: 60-share
        stage: AfterServices
        order: 60
        source: {inline: "#!/bin/sh\ngrep ' /srv/share ' /proc/mounts > /root/share-mount\ncat /srv/share/from-server > /root/share-read\necho \"written by $(hostname)\" > /srv/share/from-node\n"}
`
)

// pxeSlices are the disk's slices; sliceIndex says where each one is.
func pxeSlices(fw firmware) string {
	s := ""
	if fw == uefi {
		s = "                - {name: esp, index: 1, size: 512Mi, filesystem: {type: vfat, mountPoint: /boot/efi, label: esp}}\n"
	}
	return s + fmt.Sprintf("                - {name: boot, index: %d, size: 256Mi, filesystem: {type: ext4, mountPoint: /boot, label: boot}}\n", sliceIndex(fw, "boot")) +
		fmt.Sprintf("                - {name: root, index: %d, filesystem: {type: ext4, mountPoint: /, label: root}}", sliceIndex(fw, "root"))
}

// sliceIndex is the partition number of a slice of pxeSlices: the ESP comes first on UEFI.
func sliceIndex(fw firmware, slice string) int {
	i := map[string]int{"esp": 1, "boot": 1, "root": 2}[slice]
	if fw == uefi && slice != "esp" {
		i++
	}
	return i
}

const pxeModelTemplate = `
apiVersion: flarecast.io/v1alpha1
kind: Machine
metadata: {name: pxe-rack}
spec:
  shelves:
    - name: shelf0
      switches: [{name: sw0, ports: 8}]
      drawers:
        - name: d1
          disks:
            - name: disk0
              device: /dev/vda
              serial: ` + pxeSerial + `
              size: 3Gi
              slices:
SLICES
          boards:
            - name: cpu0
              arch: amd64
              firmware: FIRMWARE
              nics:
                - {name: eth0, mac: "` + nodeMAC + `", link: {switch: sw0, port: 1}}
---
apiVersion: flarecast.io/v1alpha1
kind: Network
metadata: {name: pxe-net}
spec:
  networks:
    - name: internal
      cidr: NET.0/24
      switches: [pxe-rack/shelf0/sw0]
      interface: eth0
      addressing: Static
      provisioning: true
  addresses:
    - {node: n1, network: internal, ip: NET.10}
---
apiVersion: flarecast.io/v1alpha1
kind: Cluster
metadata: {name: edge}
spec:
  domain: 0
  machineRefs: [{name: pxe-rack}]
  networkRef: {name: pxe-net}
  masterEligiblePolicy: Warn
  installServer: {site: pxe-site, mode: Local}
---
apiVersion: flarecast.io/v1alpha1
kind: NodesGroup
metadata: {name: workers}
spec:
  clusterRef: {name: edge}
  role: NonMasterEligible
  nodeType: NODETYPE
  os: {name: debian, version: "12"}
  arch: amd64
  configuration:
    scripts:
      - name: 20-before
        stage: BeforeServices
        order: 20
        source: {inline: "#!/bin/sh\necho \"before on $(hostname)\" >> /root/before\n"}
      - name: 50-after
        stage: AfterServices
        order: 50
        source: {inline: "#!/bin/sh\necho after > /root/after\n"}
SHARESCRIPT
    reboots: Twice
SHARED
  nodes:
    - {name: n1, id: 10, drawer: pxe-rack/shelf0/d1}
  archiveRef: {name: debian-base}
`

// TestPXEInstallFromTheInstallServer: a qemu TCG guest (Debian's iPXE ROM, a blank virtio
// disk) PXE-boots from the real `flarecast installserver` command serving a site from a real
// API server (envtest): DHCP, iPXE script, the deploy kernel and an initramfs of
// internal/initramfs whose /init is cmd/flarecast-agent. The agent fetches its plan with its
// token, lays out the disk the model names by its serial, installs the deployable made from
// the bootable Debian base (its plan in the cluster section, rendered from the model), and
// installs GRUB; the guest reboots into its disk, runs the BeforeServices script, reboots a
// second time, runs the AfterServices script, and the test sees n1 Running with the
// installed digest in NodesGroup workers' status.nodes. Then the node is reinstalled
// without a BMC (pxeReinstall), and the disk is checked afterwards. Once with SeaBIOS (GRUB in
// the MBR and a BIOS boot partition, reinstalled through GRUB's one-shot entry that loads the
// archive's iPXE; the group Dataless, mounting the install server's shared data) and once
// with OVMF (GRUB for x86_64-efi on the EFI system partition, booted from the NVRAM entry the
// agent writes, the removable-media path beside it; reinstalled through the firmware's
// BootNext), both at once.
func TestPXEInstallFromTheInstallServer(t *testing.T) {
	requireE2E(t)
	base := os.Getenv("FLARECAST_DEBIAN_BASE")
	if base == "" {
		base = filepath.Join("..", "..", "bin", "debian-base.tar")
	}
	if _, err := os.Stat(base); err != nil {
		t.Fatalf("no bootable Debian base at %s (hack/debian-base.sh builds it): %v", base, err)
	}
	// The two firmwares run at once: each has its own lab (namespace, bridge, tap, the host's
	// veth), its /24, API server, install server and state directory, and each qemu is one
	// TCG thread, so two of them share the machine's two cores.
	for _, fw := range []firmware{bios, uefi} {
		t.Run(string(fw), func(t *testing.T) {
			t.Parallel()
			pxeInstall(t, base, fw)
		})
	}
}

// pxeInstall is one install of TestPXEInstallFromTheInstallServer on firmware fw, then the
// reinstall of the node without a BMC (pxeReinstall).
func pxeInstall(t *testing.T, base string, fw firmware) {
	start := time.Now()
	l, host := pxeLab(t, "pxe"+string(fw), pxeServerIP(fw))
	k8s, kubeconfig := startAPIServer(t, l.dir)
	ctx := context.Background()
	ns := "pxe"
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	in := applyModel(t, k8s, ns, l.dir, pxeModel(fw))
	res := model.Resolve(in)
	plans := render.InstallPlans(in.Cluster, in.Groups, res)
	if len(res.Problems) > 0 || len(plans) != 1 || len(plans[0].Disks) != 1 || plans[0].Disks[0].Serial != pxeSerial || len(plans[0].NICs) == 0 {
		t.Fatalf("the model renders plans %+v (resolve: %+v)", plans, res)
	}

	// The deployable: the Debian base as a Generic archive, derived with n1's plan in the
	// cluster section and the group's scripts in the configuration section.
	deb := packDebianBase(t, l.dir, base)
	digest := deb.derive(t, in, plans)
	publishDeployable(t, k8s, ns, "workers", digest)
	t.Logf("packed and derived the Debian deployable %s in %s", digest, time.Since(start).Round(time.Second))

	img, err := initramfs.Build(initramfs.Spec{Init: agentBinary(t)}, filepath.Join(l.dir, "cache"))
	if err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(l.dir, "secret")
	if err := os.WriteFile(secret, []byte("pxe e2e site secret, not a real one"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The shared data's tree on the install server (its state directory's nfs/data), with a
	// file for the node to read.
	state := filepath.Join(l.dir, "state")
	share := filepath.Join(state, "nfs", "data", ns, "workers", pxeShare, "tree")
	if fw == bios {
		if err := os.MkdirAll(share, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(share, "from-server"), []byte("put there by the test\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// no_timer_check: under TCG on a loaded machine the kernel's IO-APIC timer check can
	// miss its ticks and panic ("IO-APIC + timer doesn't work"); a run here did.
	out := startInstallServer(t, l.dir, "--kernel-arg", "console=ttyS0,115200n8", "--kernel-arg", "no_timer_check", "--kubeconfig", kubeconfig, "--namespace", ns, "--site", "pxe-site", "--interface", host,
		"--address", pxeServerIP(fw), "--repo", deb.repo, "--boot-dir", "/usr/lib/ipxe", "--kernel", "/boot/vmlinuz-"+img.KernelVersion,
		"--initramfs", img.Path, "--state-dir", state, "--secret-file", secret, "--log-development", "--v", "1")

	// The guest: the blank disk first in the boot order (SeaBIOS and OVMF pass over it while
	// it holds nothing to boot), the NIC second; reboots are the guest's own. OVMF's
	// variables are a copy of the test's, kept across the guest's reboots: the NVRAM boot
	// entry the install writes, and BootNext, persist as on a real machine.
	disk := filepath.Join(l.dir, "disk.img")
	if err := os.WriteFile(disk, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(disk, pxeDiskSize); err != nil {
		t.Fatal(err)
	}
	serial := filepath.Join(l.dir, "serial-pxe.log")
	if dst := os.Getenv("FLARECAST_QEMU_CONSOLE"); dst != "" {
		t.Cleanup(func() { copyFile(t, serial, dst+"."+string(fw)) })
	}
	qemuStart := time.Now()
	p := l.start("qemu-pxe", append(append([]string{"qemu-system-x86_64", "-accel", "tcg", "-m", "1024", "-smp", "1",
		"-display", "none", "-monitor", "none", "-serial", "file:" + serial}, firmwareArgs(t, l.dir, fw)...),
		"-drive", "if=none,id=d0,format=raw,file="+disk, "-device", "virtio-blk-pci,drive=d0,serial="+pxeSerial+",bootindex=1",
		"-netdev", "tap,id=n0,ifname="+tap+",script=no,downscript=no", "-device", "virtio-net-pci,netdev=n0,mac="+nodeMAC+",bootindex=2")...)

	nw := watchNode(t, kubeconfig, ns, "workers", "n1")
	tl := &timeline{start: qemuStart}
	node := nw.until(t, tl, out, p, serial, 4*bootTimeout, func(n fcv1.NodeStatus) bool { // three boots and an install of 700 MB under TCG
		return n.Phase == fcv1.NodeRunning || n.Phase == fcv1.NodeFailed
	})
	t.Logf("%s: n1 went, from qemu's start (time since the previous line in brackets):\n%s", fw, tl)
	if node.Phase != fcv1.NodeRunning || node.InstalledDigest != digest {
		t.Fatalf("n1 is %s (%s) with installedDigest %q, want Running with %s\nserial console:\n%s", node.Phase, node.Message, node.InstalledDigest, digest, tail(readFile(t, serial)))
	}
	waitLogin(t, serial, 0)
	// Each boot of the installed kernel prints its command line once, whatever the firmware
	// echoes of GRUB's menu on the serial port (OVMF's console is on it too).
	console := readFile(t, serial)
	if boots := regexp.MustCompile(`Command line: .*root=PARTUUID=`).FindAllString(console, -1); len(boots) != 2 || !strings.Contains(console, grubBooting) {
		t.Errorf("the console shows %d boots of the installed kernel with the root by PARTUUID, want 2 (the first boot and the second reboot), from GRUB's entry edge-workers:\n%s",
			len(boots), tail(console))
	}
	if strings.Contains(console, grubNetboot) {
		t.Errorf("GRUB booted its network entry before the node was told to reinstall:\n%s", tail(console))
	}
	t.Logf("%s: power-on to Running in %s; the whole test so far %s", fw, time.Since(qemuStart).Round(time.Second), time.Since(start).Round(time.Second))
	if fw == uefi {
		checkBootEntry(t, nw, console)
	}
	digest = pxeReinstall(t, fw, k8s, kubeconfig, ns, in, deb, nw, out, p, serial, disk)

	// The disk, read by the host once qemu is gone. The guest has no way to be shut down
	// from here: ext4 commits its journal every 5 s, so the test waits two commits before it
	// pulls the plug, and the mount replays the journal.
	time.Sleep(10 * time.Second)
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
	checkBootLoader(t, disk, fw)
	checkGRUBConfig(t, mountPartition(t, disk, sliceIndex(fw, "boot")), fw, digest)
	root := mountPartition(t, disk, sliceIndex(fw, "root"))
	for file, want := range map[string]string{"root/before": "before on n1\n", "root/after": "after\n"} {
		if b, err := os.ReadFile(filepath.Join(root, file)); err != nil || string(b) != want {
			t.Errorf("%s on the installed root: %q (%v), want %q", file, b, err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(root, render.PlanPath("n1"))); err != nil {
		t.Errorf("the cluster section's plan is not on the installed root: %v", err)
	}
	if fw == uefi {
		if b, err := os.ReadFile(filepath.Join(root, "etc", "fstab")); err != nil || !regexp.MustCompile(`(?m)^PARTUUID=\S+\s+/boot/efi\s+vfat\s`).Match(b) {
			t.Errorf("/etc/fstab does not mount the EFI system partition at /boot/efi: %v\n%s", err, b)
		}
	}
	if fw == bios {
		checkSharedData(t, root, share)
	}
}

// checkSharedData checks what the Dataless node's 60-share script saw: the install server's
// export of the group's shared data mounted over NFS at its mount point, the test's file
// read through it, and the node's file written through it into the server's tree.
func checkSharedData(t *testing.T, root, share string) {
	t.Helper()
	export := installserver.DataExportPath("pxe", "workers", pxeShare)
	if b, err := os.ReadFile(filepath.Join(root, "root", "share-mount")); err != nil ||
		!regexp.MustCompile(`^`+regexp.QuoteMeta(pxeServerIP(bios)+":"+export)+` `+regexp.QuoteMeta(pxeShareMount)+` nfs rw,`).Match(b) {
		t.Errorf("the node's mount table has no line of %s:%s at %s (nfs, rw): %q (%v)", pxeServerIP(bios), export, pxeShareMount, b, err)
	}
	if b, err := os.ReadFile(filepath.Join(root, "root", "share-read")); err != nil || string(b) != "put there by the test\n" {
		t.Errorf("what the node read of the test's file in %s: %q (%v)", pxeShareMount, b, err)
	}
	if b, err := os.ReadFile(filepath.Join(share, "from-node")); err != nil || string(b) != "written by n1\n" {
		t.Errorf("the node's file in the install server's tree of the shared data: %q (%v)", b, err)
	}
	if _, err := os.Stat(filepath.Join(root, strings.TrimPrefix(pxeShareMount, "/"), "from-node")); err == nil {
		t.Errorf("the node's file went to its own disk's %s, not to the shared data", pxeShareMount)
	}
}

// waitLogin waits for getty's prompt of n1 on the console after its first from bytes: the
// agent reports Running from its unit, getty comes up beside it.
func waitLogin(t *testing.T, serial string, from int) {
	t.Helper()
	for login := time.Now().Add(bootTimeout); !strings.Contains(readFile(t, serial)[from:], "n1 login:"); time.Sleep(time.Second) {
		if time.Now().After(login) {
			t.Fatalf("no login prompt of n1 %s after Running\nserial console:\n%s", bootTimeout, tail(readFile(t, serial)))
		}
	}
}

// checkBootEntry checks the NVRAM entry of the UEFI install: the agent reported making it,
// first in BootOrder with the network entry after it, and both boots of the installed system
// (the first and the second reboot) started it.
func checkBootEntry(t *testing.T, nw *nodeWatch, console string) {
	t.Helper()
	var made string
	for _, n := range nw.history() {
		if n.Step == "boot entry" {
			made = n.Message
		}
	}
	if !regexp.MustCompile(`^Boot[0-9A-F]{4} "flarecast edge/n1" \(\\EFI\\flarecast\\grubx64\.efi on /dev/vda1\) first in BootOrder [0-9A-F,]+; network entry Boot[0-9A-F]{4} "UEFI PXEv4 [^"]*" after it$`).MatchString(made) {
		t.Errorf("the install's report of its NVRAM entry (step boot entry): %q", made)
	}
	checkBootedEntry(t, console, 2)
}

// ovmfStarted is OVMF's console line for each boot option it starts from a disk (it prints
// none for iPXE's network boot).
var ovmfStarted = regexp.MustCompile(`BdsDxe: starting Boot([0-9A-F]{4}) "([^"]*)" from (\S+)`)

// checkBootedEntry checks the boots from disk on a part of the console: OVMF started
// flarecast's NVRAM entry for n1 (GRUB's image on the ESP, not the removable-media path)
// at each of them, boots times, and the one boot entry pxeBootedScript saw started (the
// AfterServices stage runs once per install) is that entry.
func checkBootedEntry(t *testing.T, console string, boots int) {
	t.Helper()
	started := ovmfStarted.FindAllStringSubmatch(console, -1)
	ok := len(started) == boots
	for _, m := range started {
		ok = ok && m[2] == "flarecast edge/n1" && strings.HasPrefix(m[3], "HD(1,GPT,") && strings.HasSuffix(m[3], `/\EFI\flarecast\grubx64.efi`)
	}
	if !ok {
		t.Errorf("OVMF started %q, want %d boots of the NVRAM entry flarecast edge/n1 (HD(1,GPT,…)/\\EFI\\flarecast\\grubx64.efi)", started, boots)
	}
	m := pxeBooted.FindAllStringSubmatch(console, -1)
	if len(m) != 1 || m[0][2] != "flarecast edge/n1" || !strings.Contains(strings.ToLower(m[0][3]), `\efi\flarecast\grubx64.efi`) {
		t.Errorf("the installed system says the firmware started %q, want once the NVRAM entry flarecast edge/n1", m)
	}
}

// GRUB's console lines for the entries the agent writes: the node's archive, and on BIOS the
// one-shot entry that loads the archive's iPXE (internal/agent/bootloader.go).
const (
	grubBooting = "Booting `edge-workers'"
	grubNetboot = "Booting `network boot (iPXE): ask the install server'"
)

// pxeReinstall changes n1's group (one reboot instead of two: a new deployable, as the
// FlashArchive reconciler would build it from the changed model), with the manager's
// Cluster and NodesGroup reconcilers running so that the rollout tells n1 to reinstall. The
// resident agent sets the next boot to the network and reboots, with no BMC: on UEFI it sets
// BootNext to the firmware's network entry and OVMF boots the NIC's iPXE once; on BIOS it
// sets GRUB's next_entry to flarecast-netboot, and GRUB, from the disk, clears it and loads
// the archive's iPXE (/boot/ipxe.lkrn) with linux16. Either iPXE asks the install server, the
// agent in its initramfs installs the new deployable, and the next boot is the disk's (the
// NVRAM entry; GRUB's default entry). It returns the new digest.
func pxeReinstall(t *testing.T, fw firmware, k8s client.Client, kubeconfig, ns string, in model.Input, deb debianBase, nw *nodeWatch, out *logbuf.Buffer, p *proc, serial, disk string) string {
	t.Helper()
	ctx := context.Background()
	start := time.Now()
	startRollout(t, kubeconfig, ns)
	var g fcv1.NodesGroup
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "workers"}, &g); err != nil {
		t.Fatal(err)
	}
	g.Spec.Configuration.Reboots = fcv1.RebootsOnce
	if err := k8s.Update(ctx, &g); err != nil {
		t.Fatal(err)
	}
	in.Groups = []fcv1.NodesGroup{g}
	res := model.Resolve(in)
	plans := render.InstallPlans(in.Cluster, in.Groups, res)
	if len(res.Problems) > 0 || len(plans) != 1 || plans[0].DoubleReboot {
		t.Fatalf("the changed model renders plans %+v (resolve: %+v)", plans, res)
	}
	d2 := deb.derive(t, in, plans)
	mark, served, seen := len(readFile(t, serial)), strings.Count(out.String(), "served boot script"), len(nw.history())
	republishDeployable(t, k8s, ns, "workers", d2)
	t.Logf("%s: deployable %s published for the reinstall", fw, d2)

	tl := &timeline{start: start, from: len(out.String()), seen: seen}
	if fw == bios {
		// GRUB's one-shot, followed on the disk from the publication until the install
		// server has served the reinstall's boot script, while iPXE, the deploy kernel and
		// the agent are still on their way (the agent lays the disk out anew, grubenv with
		// it): the resident agent sets next_entry, and GRUB's save_env clears it when it
		// boots the network entry, so that a network boot that fails brings the node back on
		// its disk, not into the network boot again. The last look, after the script was
		// served, is after GRUB's boot and decides; the ones before it are for the failure
		// message (the agent's next_entry is on the disk only for the seconds between the
		// old system's unmount and GRUB, and a look may miss it: GRUB's line for the network
		// entry below is what shows it was set).
		var envs []string
		var looked time.Time
		look := func() {
			looked = time.Now()
			if env := liveGRUBEnv(t, disk); len(envs) == 0 || envs[len(envs)-1] != env {
				envs = append(envs, env)
			}
		}
		nw.until(t, tl, out, p, serial, 2*bootTimeout, func(n fcv1.NodeStatus) bool {
			if strings.Count(out.String(), "served boot script") > served {
				return true
			}
			if time.Since(looked) >= time.Second {
				look()
			}
			return n.Phase == fcv1.NodeFailed
		})
		look()
		if !oneShotCleared(envs[len(envs)-1]) {
			t.Errorf("once the network boot's script was served, /boot/grub/grubenv is not GRUB's block with next_entry cleared by save_env; it went:\n%s", strings.Join(envs, "\n--\n"))
		}
	}
	node := nw.until(t, tl, out, p, serial, 3*bootTimeout, func(n fcv1.NodeStatus) bool { // a network boot, an install of 700 MB, a boot from disk
		return n.Phase == fcv1.NodeFailed || (n.Phase == fcv1.NodeRunning && n.InstalledDigest == d2)
	})
	t.Logf("%s: n1 went, from the new deployable's publication:\n%s", fw, tl)
	if node.Phase != fcv1.NodeRunning {
		t.Fatalf("n1 is %s (%s), want Running with %s\nserial console:\n%s", node.Phase, node.Message, d2, tail(readFile(t, serial)))
	}
	// The phases of the reinstall in NodesGroup workers' status, in order.
	var phases []string
	for _, n := range nw.history()[seen:] {
		if len(phases) == 0 || phases[len(phases)-1] != string(n.Phase) {
			phases = append(phases, string(n.Phase))
		}
	}
	if want := "Rebooting Booting Installing Configuring Rebooting Configuring Running"; strings.Join(phases, " ") != want &&
		strings.Join(phases, " ") != "Running "+want {
		t.Errorf("the reinstall's phases: %s, want %s", strings.Join(phases, " "), want)
	}
	waitLogin(t, serial, mark)
	console := readFile(t, serial)[mark:]
	// One network boot, then the boot from the disk, and nothing from the network after it.
	// On BIOS both are GRUB's lines for its entries (iPXE from the disk writes to the VGA
	// console only). On UEFI the network boot is iPXE's banner, the boot from disk OVMF's
	// line for the NVRAM entry (OVMF names no boot option for the network, and GRUB's lines
	// show twice per boot there: OVMF copies GRUB's console to the serial port too).
	net := map[firmware]string{bios: grubNetboot, uefi: "Press Ctrl-B for the iPXE command line"}[fw]
	fromDisk := map[firmware]string{bios: grubBooting, uefi: "BdsDxe: starting Boot"}[fw]
	if got, want := reinstallBoots(console, net, fromDisk), "network deploy-kernel disk installed-kernel"; got != want {
		t.Errorf("after the reinstall was told, the console shows the boots %q, want %q (network %q, disk %q; reboots: Once)\n%s", got, want, net, fromDisk, tail(console))
	}
	if fw == uefi {
		checkBootedEntry(t, console, 1)
	}
	scripts := regexp.MustCompile(`served boot script[^\n]*`).FindAllString(out.String()[tl.from:], -1)
	if len(scripts) != 1 || strings.Count(out.String(), "served boot script")-served != 1 || !strings.Contains(scripts[0], fmt.Sprintf(`"uefi": %t`, fw == uefi)) {
		t.Errorf("the install server served the reinstall the boot scripts %q, want one, to a %s iPXE: the boot after it is the disk's", scripts, fw)
	}
	t.Logf("%s: reinstalled through the node's one network boot in %s", fw, time.Since(start).Round(time.Second))
	return d2
}

// reinstallBoots is the order of the boots on a part of the console, one word each: network
// (the text net), deploy-kernel (a kernel's command line without the installed root), disk
// (the text fromDisk) and installed-kernel (root=PARTUUID).
func reinstallBoots(console, net, fromDisk string) string {
	type boot struct {
		at   int
		what string
	}
	var boots []boot
	for _, m := range regexp.MustCompile(regexp.QuoteMeta(net)+"|"+regexp.QuoteMeta(fromDisk)+"|Command line: [^\r\n]*").FindAllStringIndex(console, -1) {
		line := console[m[0]:m[1]]
		what := "network"
		switch {
		case line == fromDisk:
			what = "disk"
		case strings.HasPrefix(line, "Command line: ") && strings.Contains(line, "root=PARTUUID="):
			what = "installed-kernel"
		case strings.HasPrefix(line, "Command line: "):
			what = "deploy-kernel"
		}
		boots = append(boots, boot{m[0], what})
	}
	words := make([]string, len(boots))
	for i, b := range boots {
		words[i] = b.what
	}
	return strings.Join(words, " ")
}

// liveGRUBEnv is /boot/grub/grubenv on the disk of a running BIOS node, its size and its
// text without the padding. debugfs reads the image file itself at the partition's offset,
// read-only and in its catastrophic mode (no bitmaps): it writes nothing to the guest's disk
// and sees what qemu wrote through the host's page cache. No loop device: mount(8) reuses a
// loop device of the same file and offset, and a read-only one left by a detach that had
// not finished failed the disk check's mount after qemu in one run.
func liveGRUBEnv(t *testing.T, disk string) string {
	t.Helper()
	first, _ := partitionSpan(t, disk, sliceIndex(bios, "boot"))
	env, err := exec.Command("debugfs", "-c", "-R", "cat /grub/grubenv", fmt.Sprintf("%s?offset=%d", disk, first*512)).Output()
	if err != nil {
		t.Fatalf("debugfs cat /grub/grubenv on the live disk: %v", err)
	}
	return fmt.Sprintf("%d bytes: %s", len(env), bytes.TrimRight(env, "#"))
}

// oneShotCleared says whether env (liveGRUBEnv's) is GRUB's 1024-byte block with next_entry
// written empty: save_env's, as neither the install (no variables) nor the resident agent
// (next_entry=flarecast-netboot) writes that line.
func oneShotCleared(env string) bool {
	return strings.HasPrefix(env, "1024 bytes: # GRUB Environment Block\n") && regexp.MustCompile(`(?m)^next_entry=$`).MatchString(env)
}

// checkGRUBConfig checks the installed /boot's GRUB configuration (boot is where the boot
// slice is mounted): grub.cfg boots the deployable's entry, on BIOS also has the one-shot
// network entry with the archive's iPXE beside it, and grubenv selects no entry.
func checkGRUBConfig(t *testing.T, boot string, fw firmware, digest string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(boot, "grub", "grub.cfg"))
	if err != nil || !strings.Contains(string(b), "edge-workers") || !strings.Contains(string(b), digest) {
		t.Errorf("/boot/grub/grub.cfg does not boot edge-workers %s: %v\n%s", digest, err, b)
	}
	netboot := regexp.MustCompile(`(?s)menuentry '[^']*' --id flarecast-netboot \{[^}]*\blinux16 /ipxe\.lkrn\n`).Match(b)
	if _, err := os.Stat(filepath.Join(boot, "ipxe.lkrn")); netboot != (fw == bios) || (fw == bios && err != nil) {
		t.Errorf("/boot/grub/grub.cfg has a flarecast-netboot entry with linux16 /ipxe.lkrn: %t, want it on BIOS only (%s; /boot/ipxe.lkrn: %v)\n%s", netboot, fw, err, b)
	}
	env, err := os.ReadFile(filepath.Join(boot, "grub", "grubenv"))
	if err != nil || len(env) != 1024 || !strings.HasPrefix(string(env), "# GRUB Environment Block\n") || regexp.MustCompile(`(?m)^next_entry=.`).Match(env) {
		t.Errorf("/boot/grub/grubenv is not GRUB's environment block selecting no entry (%v, %d bytes):\n%s", err, len(env), bytes.TrimRight(env, "#"))
	}
}

// republishDeployable moves the group's deployable FlashArchive to another build, as the
// FlashArchive reconciler does when it has built the group's next deployable.
func republishDeployable(t *testing.T, k8s client.Client, ns, group, digest string) {
	t.Helper()
	var fa fcv1.FlashArchive
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: controllers.DeployableName("edge", group)}, &fa); err != nil {
		t.Fatal(err)
	}
	fa.Status.Phase, fa.Status.Digest = fcv1.ArchiveReady, digest
	if err := k8s.Status().Update(context.Background(), &fa); err != nil {
		t.Fatal(err)
	}
}

// startRollout runs the manager's Cluster and NodesGroup reconcilers in the test against the
// API server (the install server is its own process): the Cluster's rollout names the nodes
// that run another digest than their group's deployable, and the install server tells them.
func startRollout(t *testing.T, kubeconfig, ns string) {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: cli.Scheme(), Metrics: metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0", Cache: cache.Options{DefaultNamespaces: map[string]cache.Config{ns: {}}},
		Controller: config.Controller{SkipNameValidation: ptr.To(true)}, Logger: zap.New(zap.WriteTo(io.Discard))})
	if err != nil {
		t.Fatal(err)
	}
	if err := controllers.SetupIndexes(ctx, mgr); err != nil {
		t.Fatal(err)
	}
	if err := controllers.SetupArchiveIndexes(ctx, mgr); err != nil {
		t.Fatal(err)
	}
	models := modelsource.New(mgr.GetClient())
	rec := mgr.GetEventRecorder("flarecast-manager")
	for _, r := range []interface{ SetupWithManager(ctrl.Manager) error }{
		&controllers.NodesGroupReconciler{Client: mgr.GetClient(), Recorder: rec, Models: models},
		&controllers.ClusterReconciler{Client: mgr.GetClient(), Recorder: rec, Models: models},
	} {
		if err := r.SetupWithManager(mgr); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})
}

// nodeWatch records every state of one node in its group's status.nodes, as the install
// server writes them (a watch: a step that lasts less than a poll is seen too).
type nodeWatch struct {
	mu    sync.Mutex
	nodes []fcv1.NodeStatus
}

func watchNode(t *testing.T, kubeconfig, ns, group, node string) *nodeWatch {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: cli.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	nw := &nodeWatch{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		rv := ""
		for ctx.Err() == nil {
			w, err := c.Watch(ctx, &fcv1.NodesGroupList{}, client.InNamespace(ns), client.MatchingFields{"metadata.name": group},
				&client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: rv}})
			if err != nil {
				time.Sleep(time.Second)
				continue
			}
			for ev := range w.ResultChan() {
				g, ok := ev.Object.(*fcv1.NodesGroup)
				if !ok {
					continue
				}
				rv = g.ResourceVersion
				for _, n := range g.Status.Nodes {
					if n.Name == node {
						nw.add(n)
					}
				}
			}
			w.Stop()
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return nw
}

// add keeps a state that differs from the last one in what the agent reports.
func (nw *nodeWatch) add(n fcv1.NodeStatus) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	if k := len(nw.nodes); k > 0 {
		last := nw.nodes[k-1]
		if last.Phase == n.Phase && last.Step == n.Step && last.Message == n.Message && last.InstalledDigest == n.InstalledDigest {
			return
		}
	}
	nw.nodes = append(nw.nodes, n)
}

func (nw *nodeWatch) history() []fcv1.NodeStatus {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	return slices.Clone(nw.nodes)
}

// until follows the node into the timeline until done says so of its latest state, and
// fails the test when qemu ends or limit passes first.
func (nw *nodeWatch) until(t *testing.T, tl *timeline, out *logbuf.Buffer, p *proc, serial string, limit time.Duration, done func(fcv1.NodeStatus) bool) fcv1.NodeStatus {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		h := nw.history()
		for _, n := range h[tl.seen:] {
			tl.node(n)
		}
		tl.seen = len(h)
		tl.server(out.String()[tl.from:])
		if len(h) > 0 && done(h[len(h)-1]) {
			return h[len(h)-1]
		}
		select {
		case <-p.done:
			t.Fatalf("qemu ended (%v); n1 went\n%s\nserial console:\n%s\nqemu:\n%s", p.cmd.ProcessState, tl, tail(readFile(t, serial)), readFile(t, p.log))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("n1 is not done after %s; it went\n%s\nserial console:\n%s\ninstall server:\n%s", limit, tl, tail(readFile(t, serial)), tailN(out.String(), 40))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// checkBootLoader reads the partition table and the boot loader of an installed disk image:
// the model's slices at their indexes, and for BIOS GRUB's boot code in the MBR and the BIOS
// boot partition (EF02) the agent adds, for UEFI the EFI system partition (EF00) whose FAT
// holds GRUB at EFI/BOOT/BOOTX64.EFI, read without mounting (the host's kernel may lack vfat).
func checkBootLoader(t *testing.T, disk string, fw firmware) {
	t.Helper()
	table, err := exec.Command("sgdisk", "--print", disk).CombinedOutput()
	if err != nil {
		t.Fatalf("sgdisk --print: %v\n%s", err, table)
	}
	slice := func(i int, size, code string) *regexp.Regexp {
		return regexp.MustCompile(fmt.Sprintf(`(?m)^\s+%d\s+\d+\s+\d+\s+%s\s+%s`, i, size, code))
	}
	want := []*regexp.Regexp{slice(sliceIndex(fw, "boot"), `256\.0 MiB`, "8300"), slice(sliceIndex(fw, "root"), `\S+ \S+`, "8300")}
	if fw == uefi {
		want = append(want, slice(sliceIndex(fw, "esp"), `512\.0 MiB`, "EF00"))
	} else {
		want = append(want, regexp.MustCompile(`(?m)EF02`))
	}
	for _, re := range want {
		if !re.Match(table) {
			t.Errorf("the partition table is not the model's layout (no %s):\n%s", re, table)
		}
	}
	if fw == bios {
		f, err := os.Open(disk)
		if err != nil {
			t.Fatal(err)
		}
		mbr := make([]byte, 512)
		_, err = io.ReadFull(f, mbr)
		f.Close()
		if err != nil || !bytes.Contains(mbr, []byte("GRUB")) {
			t.Errorf("the MBR holds no GRUB boot code (%v)", err)
		}
		return
	}
	if regexp.MustCompile(`(?m)EF02`).Match(table) {
		t.Errorf("a UEFI node's disk has a BIOS boot partition:\n%s", table)
	}
	efi := readESPFile(t, disk, sliceIndex(fw, "esp"), "/EFI/BOOT/BOOTX64.EFI")
	// A PE image (MZ, then PE\0\0 where the header says) for x86-64 (machine 0x8664), GRUB's.
	if len(efi) < 0x40 || string(efi[:2]) != "MZ" {
		t.Fatalf("EFI/BOOT/BOOTX64.EFI on the ESP is not a PE image (%d bytes)", len(efi))
	}
	pe := int(binary.LittleEndian.Uint32(efi[0x3c:]))
	if pe+6 > len(efi) || string(efi[pe:pe+4]) != "PE\x00\x00" || binary.LittleEndian.Uint16(efi[pe+4:]) != 0x8664 || !bytes.Contains(efi, []byte("x86_64-efi")) {
		t.Errorf("EFI/BOOT/BOOTX64.EFI is not GRUB's x86_64-efi image (%d bytes)", len(efi))
	}
}

// readESPFile reads one file of the FAT32 file system on partition part of a disk image with
// go-diskfs's reader, no mount.
func readESPFile(t *testing.T, image string, part int, name string) []byte {
	t.Helper()
	first, sectors := partitionSpan(t, image, part)
	img, err := os.Open(image)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	fs, err := fat32.Read(file.New(img, true), sectors*512, first*512, 512)
	if err != nil {
		t.Fatalf("partition %d (the ESP) holds no FAT32 file system: %v", part, err)
	}
	f, err := fs.OpenFile(name, os.O_RDONLY)
	if err != nil {
		t.Fatalf("%s on the ESP: %v", name, err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatalf("read %s on the ESP: %v", name, err)
	}
	return b
}

// timeline is where a node's install went, from qemu's start: the install server's log
// (the boot script and files served) and each change of phase and step in the node's status.
type timeline struct {
	start time.Time
	// from is where the install server's log starts for this timeline (a reinstall's follows
	// the first install's).
	from int
	// seen is how many of the node's states it has followed (a reinstall's follow the first
	// install's; until goes on from there when called again).
	seen   int
	lines  []string
	last   time.Duration
	served int
	phase  string
}

func (tl *timeline) add(what string) {
	at := time.Since(tl.start)
	tl.lines = append(tl.lines, fmt.Sprintf("%7.1f s (+%5.1f s)  %s", at.Seconds(), (at-tl.last).Seconds(), what))
	tl.last = at
}

// server notes the first boot script and the boot files (kernel, initramfs) served.
func (tl *timeline) server(log string) {
	if tl.served == 0 && strings.Contains(log, "served boot script") {
		tl.served = 1
		tl.add("iPXE got its script (firmware, option ROM, DHCP)")
	}
	if n := strings.Count(log, "served boot file"); tl.served >= 1 && n > tl.served-1 && n <= 2 {
		tl.served = n + 1
		tl.add(map[int]string{1: "kernel served", 2: "initramfs served"}[n])
	}
}

// node notes a change of the node's phase or step.
func (tl *timeline) node(n fcv1.NodeStatus) {
	if n.Phase == "" {
		return
	}
	if s := string(n.Phase) + " " + n.Step; s != tl.phase {
		tl.phase = s
		tl.add(fmt.Sprintf("%s, step %q: %s", n.Phase, n.Step, n.Message))
	}
}

func (tl *timeline) String() string { return strings.Join(tl.lines, "\n") }

// startAPIServer starts envtest's API server and etcd (bin/k8s unless KUBEBUILDER_ASSETS
// says otherwise) with flarecast's CRDs, and writes a kubeconfig for the install server.
func startAPIServer(t *testing.T, dir string) (client.Client, string) {
	t.Helper()
	env := &envtest.Environment{CRDDirectoryPaths: []string{filepath.Join("..", "..", "config", "crd", "bases")}, ErrorIfCRDPathMissing: true}
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		env.BinaryAssetsDirectory = filepath.Join("..", "..", "bin", "k8s")
	}
	cfg, err := env.Start()
	if err != nil {
		env.Stop()
		t.Fatalf("start envtest: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stop envtest: %v", err)
		}
	})
	c, err := client.New(cfg, client.Options{Scheme: cli.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	u, err := env.AddUser(envtest.User{Name: "installserver", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := u.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	return c, kubeconfig
}

// applyModel creates the objects of site (pxeModel's) in ns and returns them as the model's input.
func applyModel(t *testing.T, k8s client.Client, ns, dir, site string) model.Input {
	t.Helper()
	p := filepath.Join(dir, "model.yaml")
	if err := os.WriteFile(p, []byte(site), 0o644); err != nil {
		t.Fatal(err)
	}
	objs, errs := manifest.Read([]string{p}, nil)
	if len(errs) > 0 {
		t.Fatalf("read the model: %v", errs)
	}
	var in model.Input
	var created []client.Object
	var groups []*fcv1.NodesGroup
	for _, o := range objs {
		var typed client.Object
		switch o.GVK().Kind {
		case "Cluster":
			in.Cluster = &fcv1.Cluster{}
			typed = in.Cluster
		case "Network":
			in.Network = &fcv1.Network{}
			typed = in.Network
		case "Machine":
			m := &fcv1.Machine{}
			in.Machines = append(in.Machines, m)
			typed = m
		case "NodesGroup":
			g := &fcv1.NodesGroup{}
			groups = append(groups, g)
			typed = g
		}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, typed); err != nil {
			t.Fatal(err)
		}
		typed.SetNamespace(ns)
		created = append(created, typed)
	}
	for _, o := range created {
		if err := k8s.Create(context.Background(), o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}
	for _, g := range groups {
		in.Groups = append(in.Groups, *g)
	}
	return in
}

// publishDeployable creates the group's deployable FlashArchive as the controllers would
// have built it: Ready, with the archive's digest.
func publishDeployable(t *testing.T, k8s client.Client, ns, group, digest string) {
	t.Helper()
	ctx := context.Background()
	fa := &fcv1.FlashArchive{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: controllers.DeployableName("edge", group)},
		Spec: fcv1.FlashArchiveSpec{Type: fcv1.ArchiveType("Deployable"), Arch: fcv1.Arch("amd64"), OS: &fcv1.OSSpec{Name: "debian", Version: "12"},
			BaseRef: &fcv1.LocalObjectReference{Name: "debian-base"}, ClusterRef: &fcv1.LocalObjectReference{Name: "edge"},
			NodesGroupRef: &fcv1.LocalObjectReference{Name: group}},
	}
	if err := k8s.Create(ctx, fa); err != nil {
		t.Fatal(err)
	}
	fa.Status.Phase = fcv1.ArchiveReady
	fa.Status.Digest = digest
	if err := k8s.Status().Update(ctx, fa); err != nil {
		t.Fatal(err)
	}
}

var (
	flarecastOnce sync.Once
	flarecastPath string
	flarecastErr  error
)

// flarecastBinary builds the flarecast command as make build does, once per test binary.
func flarecastBinary(t *testing.T) string {
	t.Helper()
	flarecastOnce.Do(func() {
		dir, err := os.MkdirTemp("", "fc-e2e-flarecast-")
		if err != nil {
			flarecastErr = err
			return
		}
		addBuildDir(dir)
		flarecastPath = filepath.Join(dir, "flarecast")
		cmd := exec.Command("go", "build", "-trimpath", "-o", flarecastPath, "../..")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			flarecastErr = errors.New("build flarecast: " + err.Error() + ": " + string(out))
		}
	})
	if flarecastErr != nil {
		t.Fatal(flarecastErr)
	}
	return flarecastPath
}

// startInstallServer runs `flarecast installserver` on this machine's side of the lab until
// the test ends (SIGTERM, then SIGKILL), its output kept for failure messages.
func startInstallServer(t *testing.T, dir string, args ...string) *logbuf.Buffer {
	t.Helper()
	cmd := exec.Command(flarecastBinary(t), append([]string{"installserver"}, args...)...)
	out := &logbuf.Buffer{}
	logf, err := os.Create(filepath.Join(dir, "installserver.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = multi{out, logf}, multi{out, logf}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("flarecast installserver ended with %v", err)
			}
		case <-time.After(15 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
			t.Error("flarecast installserver did not stop on SIGTERM")
		}
		logf.Close()
		if t.Failed() {
			t.Logf("flarecast installserver output (end):\n%s", tailN(out.String(), 80))
		}
	})
	return out
}

type multi struct {
	a *logbuf.Buffer
	b *os.File
}

func (m multi) Write(p []byte) (int, error) {
	m.a.Write(p)
	return m.b.Write(p)
}

func tailN(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// mountPartition mounts partition part of a disk image, writable so that ext4 replays its
// journal (qemu was killed; a read-only loop device refuses the replay): a loop mount over the partition's sectors as sgdisk reads them
// (no partition nodes: there is no udev here).
func mountPartition(t *testing.T, image string, part int) string {
	t.Helper()
	first, sectors := partitionSpan(t, image, part)
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-o", fmt.Sprintf("noatime,loop,offset=%d,sizelimit=%d", first*512, sectors*512), image, dir).CombinedOutput(); err != nil {
		t.Fatalf("mount partition %d of %s: %v: %s", part, image, err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	return dir
}

// partitionSpan is the first sector and the length in sectors of a partition of a disk
// image, as sgdisk reads them.
func partitionSpan(t *testing.T, image string, part int) (first, sectors int64) {
	t.Helper()
	info, err := exec.Command("sgdisk", fmt.Sprintf("--info=%d", part), image).CombinedOutput()
	if err != nil {
		t.Fatalf("sgdisk --info=%d %s: %v\n%s", part, image, err, info)
	}
	if m := regexp.MustCompile(`First sector: (\d+)`).FindSubmatch(info); m != nil {
		fmt.Sscan(string(m[1]), &first)
	}
	if m := regexp.MustCompile(`Partition size: (\d+) sectors`).FindSubmatch(info); m != nil {
		fmt.Sscan(string(m[1]), &sectors)
	}
	if first == 0 || sectors == 0 {
		t.Fatalf("sgdisk --info=%d:\n%s", part, info)
	}
	return first, sectors
}
