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
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	corev1 "k8s.io/api/core/v1"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/fat32"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/controllers"
	"github.com/flarecast/flarecast/internal/archive"
	"github.com/flarecast/flarecast/internal/cli"
	"github.com/flarecast/flarecast/internal/initramfs"
	"github.com/flarecast/flarecast/internal/model"
	"github.com/flarecast/flarecast/internal/model/manifest"
	"github.com/flarecast/flarecast/internal/render"
	"github.com/flarecast/flarecast/internal/repository"
	"github.com/flarecast/flarecast/internal/tarball"
	"github.com/flarecast/flarecast/internal/testsupport/netlab"
)

// The PXE install's network: the install server runs on this machine (as an operator runs
// it), on the host end of a veth whose other end is on the lab's bridge with qemu's tap.
// Its own /24 of 198.18.0.0/15, apart from the other tests' addresses.
const (
	pxeServerIP = "198.19.206.1"
	pxeNodeIP   = "198.19.206.10"
	pxeSerial   = "FCE2E-PXE-0001"
	pxeDiskSize = 3 << 30
)

// pxeModel is the site: one node of firmware fw with a virtio disk (found by its serial) and
// one NIC on the provisioning network, in a group that runs a BeforeServices and an
// AfterServices script with the second reboot. A UEFI node's disk starts with its EFI system
// partition: 512 MiB, so that mkfs.vfat makes it FAT32, which UEFI firmware is required to read.
func pxeModel(fw firmware) string {
	return strings.NewReplacer("FIRMWARE", map[firmware]string{bios: "BIOS", uefi: "UEFI"}[fw], "SLICES", pxeSlices(fw)).Replace(pxeModelTemplate)
}

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
      cidr: 198.19.206.0/24
      switches: [pxe-rack/shelf0/sw0]
      interface: eth0
      addressing: Static
      provisioning: true
  addresses:
    - {node: n1, network: internal, ip: ` + pxeNodeIP + `}
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
  nodeType: Diskfull
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
    reboots: Twice
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
// installed digest in NodesGroup workers' status.nodes. The disk is checked afterwards. Once
// with SeaBIOS (GRUB in the MBR and a BIOS boot partition) and once with OVMF (GRUB for
// x86_64-efi on the EFI system partition, at the removable-media path the firmware boots).
func TestPXEInstallFromTheInstallServer(t *testing.T) {
	requireE2E(t)
	base := os.Getenv("FLARECAST_DEBIAN_BASE")
	if base == "" {
		base = filepath.Join("..", "..", "bin", "debian-base.tar")
	}
	if _, err := os.Stat(base); err != nil {
		t.Fatalf("no bootable Debian base at %s (hack/debian-base.sh builds it): %v", base, err)
	}
	for _, fw := range []firmware{bios, uefi} {
		t.Run(string(fw), func(t *testing.T) { pxeInstall(t, base, fw) })
	}
}

// pxeInstall is one install of TestPXEInstallFromTheInstallServer on firmware fw.
func pxeInstall(t *testing.T, base string, fw firmware) {
	start := time.Now()
	l := &lab{t: t, ns: netlab.NewNetns(t, "pxe"), dir: t.TempDir()}
	host := fmt.Sprintf("fcpxe%d", os.Getpid()%100000)
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
	netlab.Run(t, "ip", "addr", "add", pxeServerIP+"/24", "dev", host)
	netlab.Run(t, "ip", "link", "set", host, "up")
	t.Cleanup(func() { exec.Command("ip", "link", "del", host).Run() })

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
	repo := filepath.Join(l.dir, "repo")
	store, err := repository.Open(ctx, repo, repository.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(base)
	if err != nil {
		t.Fatal(err)
	}
	created := time.Unix(1700000000, 0).UTC()
	gen, _, err := archive.Create(ctx, store, tarball.TarSource(f), archive.CreateOptions{Name: "debian-base", Architecture: "amd64", OS: "linux",
		Created: &created, TempDir: t.TempDir(), Level: 1})
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	files, err := render.PlanFiles(plans)
	if err != nil {
		t.Fatal(err)
	}
	conf := &archive.Configuration{DoubleReboot: true}
	for _, s := range in.Groups[0].Spec.Configuration.Scripts {
		conf.Scripts = append(conf.Scripts, archive.Script{Name: s.Name, Stage: archive.Stage(s.Stage), Order: int(s.Order), Data: []byte(*s.Source.Inline)})
	}
	dep, err := archive.Derive(ctx, store, archive.DeriveOptions{Base: gen.Digest.String(), Name: "edge-workers", Type: archive.Deployable,
		Configuration: conf, Cluster: &archive.ClusterSection{Files: files, Nodes: []archive.Node{{Name: "n1", ID: 10, Group: "workers"}}},
		SoftwareLoad: &archive.SoftwareLoadDescriptor{Cluster: "edge", Groups: []archive.GroupLoad{{Name: "workers", Archive: gen.Digest, Nodes: []string{"n1"}}}},
		NodesGroup:   "workers", Created: &created})
	if err != nil {
		t.Fatal(err)
	}
	digest := dep.Descriptor.Digest.String()
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
	// no_timer_check: under TCG on a loaded machine the kernel's IO-APIC timer check can
	// miss its ticks and panic ("IO-APIC + timer doesn't work"); a run here did.
	out := startInstallServer(t, l.dir, "--kernel-arg", "console=ttyS0,115200n8", "--kernel-arg", "no_timer_check", "--kubeconfig", kubeconfig, "--namespace", ns, "--site", "pxe-site", "--interface", host,
		"--address", pxeServerIP, "--repo", repo, "--boot-dir", "/usr/lib/ipxe", "--kernel", "/boot/vmlinuz-"+img.KernelVersion,
		"--initramfs", img.Path, "--state-dir", filepath.Join(l.dir, "state"), "--secret-file", secret, "--log-development", "--v", "1")

	// The guest: the blank disk first in the boot order (SeaBIOS and OVMF pass over it while
	// it holds nothing to boot), the NIC second; reboots are the guest's own.
	disk := filepath.Join(l.dir, "disk.img")
	if err := os.WriteFile(disk, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(disk, pxeDiskSize); err != nil {
		t.Fatal(err)
	}
	serial := filepath.Join(l.dir, "serial-pxe.log")
	qemuStart := time.Now()
	p := l.start("qemu-pxe", append(append([]string{"qemu-system-x86_64", "-accel", "tcg", "-m", "1024", "-smp", "1",
		"-display", "none", "-monitor", "none", "-serial", "file:" + serial}, firmwareArgs(t, l.dir, fw)...),
		"-drive", "if=none,id=d0,format=raw,file="+disk, "-device", "virtio-blk-pci,drive=d0,serial="+pxeSerial+",bootindex=1",
		"-netdev", "tap,id=n0,ifname="+tap+",script=no,downscript=no", "-device", "virtio-net-pci,netdev=n0,mac="+nodeMAC+",bootindex=2")...)

	tl := &timeline{start: qemuStart}
	limit := 4 * bootTimeout // three boots and an install of 700 MB under TCG
	deadline := time.Now().Add(limit)
	var node fcv1.NodeStatus
	for {
		var g fcv1.NodesGroup
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "workers"}, &g); err != nil {
			t.Fatal(err)
		}
		for _, n := range g.Status.Nodes {
			if n.Name == "n1" {
				node = n
			}
		}
		tl.server(out.String())
		tl.node(node)
		if node.Phase == fcv1.NodeRunning || node.Phase == fcv1.NodeFailed {
			break
		}
		select {
		case <-p.done:
			t.Fatalf("qemu ended (%v); n1 went\n%s\nserial console:\n%s\nqemu:\n%s", p.cmd.ProcessState, tl, tail(readFile(t, serial)), readFile(t, p.log))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("n1 is not Running after %s; it went\n%s\nserial console:\n%s\ninstall server:\n%s", limit, tl, tail(readFile(t, serial)), tailN(out.String(), 40))
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("%s: n1 went, from qemu's start (time since the previous line in brackets):\n%s", fw, tl)
	if node.Phase != fcv1.NodeRunning || node.InstalledDigest != digest {
		t.Fatalf("n1 is %s (%s) with installedDigest %q, want Running with %s\nserial console:\n%s", node.Phase, node.Message, node.InstalledDigest, digest, tail(readFile(t, serial)))
	}
	// The agent reports Running from its unit; getty comes up beside it.
	for login := time.Now().Add(bootTimeout); !strings.Contains(readFile(t, serial), "n1 login:"); time.Sleep(time.Second) {
		if time.Now().After(login) {
			t.Fatalf("no login prompt of n1 %s after Running\nserial console:\n%s", bootTimeout, tail(readFile(t, serial)))
		}
	}
	// Each boot of the installed kernel prints its command line once, whatever the firmware
	// echoes of GRUB's menu on the serial port (OVMF's console is on it too).
	console := readFile(t, serial)
	if boots := regexp.MustCompile(`Command line: .*root=PARTUUID=`).FindAllString(console, -1); len(boots) != 2 || !strings.Contains(console, "Booting `edge-workers'") {
		t.Errorf("the console shows %d boots of the installed kernel with the root by PARTUUID, want 2 (the first boot and the second reboot), from GRUB's entry edge-workers:\n%s",
			len(boots), tail(console))
	}
	t.Logf("%s: power-on to Running in %s; the whole test so far %s", fw, time.Since(qemuStart).Round(time.Second), time.Since(start).Round(time.Second))

	// The disk, read by the host once qemu is gone. The guest has no way to be shut down
	// from here: ext4 commits its journal every 5 s, so the test waits two commits before it
	// pulls the plug, and the mount replays the journal.
	time.Sleep(10 * time.Second)
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
	checkBootLoader(t, disk, fw)
	if b, err := os.ReadFile(filepath.Join(mountPartition(t, disk, sliceIndex(fw, "boot")), "grub", "grub.cfg")); err != nil || !strings.Contains(string(b), "edge-workers") {
		t.Errorf("/boot/grub/grub.cfg: %v\n%s", err, b)
	}
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
	start  time.Time
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
		buildDirs = append(buildDirs, dir)
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
func startInstallServer(t *testing.T, dir string, args ...string) *lockedOutput {
	t.Helper()
	cmd := exec.Command(flarecastBinary(t), append([]string{"installserver"}, args...)...)
	out := &lockedOutput{}
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

type lockedOutput struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedOutput) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedOutput) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

type multi struct {
	a *lockedOutput
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
