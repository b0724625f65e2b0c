package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/flarecast/flarecast/internal/archive"
	"github.com/flarecast/flarecast/internal/installplan"
	"github.com/flarecast/flarecast/internal/tarball"
	"github.com/flarecast/flarecast/internal/testsupport/logbuf"
)

// debianBase is the small bootable Debian the build recipe makes (hack/debian-base.sh: a
// kernel with its initrd, GRUB for BIOS and UEFI); FLARECAST_DEBIAN_BASE names another tar.
func debianBase(t *testing.T) string {
	t.Helper()
	p := os.Getenv("FLARECAST_DEBIAN_BASE")
	if p == "" {
		p = filepath.Join("..", "..", "bin", "debian-base.tar")
	}
	if _, err := os.Stat(p); err != nil {
		msg := fmt.Sprintf("no bootable Debian base at %s (hack/debian-base.sh builds it; FLARECAST_DEBIAN_BASE names another)", p)
		if _, recipe := os.Stat(filepath.Join("..", "..", "hack", "debian-base.sh")); recipe == nil && os.Getenv("FLARECAST_REQUIRE_PEERS") != "" {
			t.Fatalf("%s and FLARECAST_REQUIRE_PEERS is set", msg)
		}
		t.Skip(msg)
	}
	return p
}

// A BIOS node installs the Debian base with the archive's own GRUB: the MBR holds GRUB's
// boot code, the BIOS boot partition its core image, and grub.cfg boots the archive's kernel
// with the root by PARTUUID. With FLARECAST_E2E=1 qemu (TCG, SeaBIOS) boots the disk image:
// the installed system comes up to its login prompt, with the node's host name, and runs the
// later stages with the second reboot, reporting Running with the installed digest.
func TestSimulatedNodeInstallsGRUBAndTheDiskBoots(t *testing.T) {
	needSimPeers(t)
	base := debianBase(t)
	agentBinary(t)
	s := newSite(t)
	p := plan("b1", 2048*mib, installplan.Script{Name: "20-before", Stage: "BeforeServices", Order: 20},
		installplan.Script{Name: "50-later", Stage: "AfterServices", Order: 50})
	p.Disks[0].Slices[0].Size = 256 * mib // /boot holds a kernel and a 36 MB initrd
	p.DoubleReboot = true
	f, err := os.Open(base)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	start := time.Now()
	conf := &archive.Configuration{DoubleReboot: true, Scripts: []archive.Script{
		{Name: "20-before", Stage: archive.StageBeforeServices, Order: 20, Data: []byte("#!/bin/sh\necho \"before on $(hostname)\" >> /root/before\n")},
		laterScript,
	}}
	a := s.derive("c1-debian", s.generic("debian-base", tarball.TarSource(f)), conf, []installplan.Plan{p})
	t.Logf("packed the Debian base in %s", time.Since(start).Round(time.Second))
	s.serve(p, a, "")
	n := s.newNode("b1", 2048*mib)
	n.bootLoader = true
	start = time.Now()
	if err, out := s.install(n); err != nil {
		t.Fatalf("the agent failed: %v\n%s", err, out)
	}
	t.Logf("installed in %s", time.Since(start).Round(time.Second))

	img, err := os.ReadFile(n.image) // sparse: 2 GiB of mostly holes
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(img[:512], []byte("GRUB")) || img[510] != 0x55 || img[511] != 0xaa {
		t.Errorf("the MBR holds no GRUB boot code: % x", img[:512])
	}
	// The BIOS boot partition (sectors 34 to 2047) holds the core image.
	if bytes.Count(img[34*512:2048*512], []byte{0}) > 2014*512-4096 {
		t.Errorf("the BIOS boot partition is empty")
	}
	boot := mounted(t, n.image, 1)
	cfg := read(t, filepath.Join(boot, "grub/grub.cfg"))
	info := strings.ToLower(sh(t, "sgdisk", "--info=3", n.image))
	m := regexp.MustCompile(`partition unique guid: ([0-9a-f-]+)`).FindStringSubmatch(info)
	if m == nil || !strings.Contains(cfg, "linux /vmlinuz-6.") || !strings.Contains(cfg, "root=PARTUUID="+m[1]+" ro") ||
		!strings.Contains(cfg, "initrd /initrd.img-6.") {
		t.Errorf("grub.cfg does not boot the kernel on the root's partition (%v):\n%s", m, cfg)
	}
	if _, err := os.Stat(filepath.Join(boot, "grub/i386-pc/normal.mod")); err != nil {
		t.Errorf("GRUB's modules are not on /boot: %v", err)
	}

	// The Debian base raises its interfaces with ifupdown: the node's addresses are there too.
	root := mounted(t, n.image, 3)
	if got := read(t, filepath.Join(root, "etc/network/interfaces.d/flarecast")); !strings.Contains(got, "iface eth0 inet static\n\taddress 198.18.0.20/24\n") {
		t.Errorf("ifupdown's file:\n%s", got)
	}

	if os.Getenv("FLARECAST_E2E") == "" {
		t.Log("FLARECAST_E2E is not set: the disk image is not booted")
		return
	}
	exec.Command("umount", root).Run() // qemu takes the image
	exec.Command("umount", boot).Run()
	// The installed system runs the later stages with the agent it holds, reporting to the
	// install server (qemu's user network forwards its address to the server on loopback):
	// BeforeServices, the second reboot, AfterServices, then Running with the digest.
	before := len(s.events("b1"))
	bootWithQEMU(t, n.image, s.loopback, 15*time.Minute, func(console string) bool {
		end := last(s.events("b1"))
		return strings.Contains(console, "b1 login:") && end.Phase == installplan.PhaseRunning
	})
	var steps []string
	for _, e := range s.events("b1")[before:] {
		if e.ExitCode != nil {
			steps = append(steps, fmt.Sprintf("%s=%d", e.Step, *e.ExitCode))
		} else if e.Step == "second reboot" || e.Phase == installplan.PhaseRunning {
			steps = append(steps, e.Step)
		}
		// The resident agent's heartbeats follow Running, as many as the time lets.
		if e.Phase == installplan.PhaseRunning {
			break
		}
	}
	if got := strings.Join(steps, ", "); got != "script 20-before=0, second reboot, script 50-later=0, running" {
		t.Errorf("the installed system reported %s", got)
	}
	if end := last(s.events("b1")); end.InstalledDigest != a.Descriptor.Digest.String() {
		t.Errorf("Running with digest %s, installed %s", end.InstalledDigest, a.Descriptor.Digest)
	}
	root = mounted(t, n.image, 3)
	if got := read(t, filepath.Join(root, "root/before")); got != "before on b1\n" {
		t.Errorf("the BeforeServices script ran %q", got)
	}
}

// bootWithQEMU boots a disk image with SeaBIOS under TCG (rebooting when the guest asks)
// until done says so of the serial console, with the plan's NIC on qemu's user network,
// which reaches nothing but the install server: restrict=on, and the server's address
// forwarded to server (127.0.0.1:port).
func bootWithQEMU(t *testing.T, image, server string, limit time.Duration, done func(console string) bool) {
	t.Helper()
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skip("no qemu-system-x86_64: run hack/debian-deps.sh")
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", "-machine", "q35,accel=tcg", "-m", "1024", "-nographic",
		"-drive", "file="+image+",format=raw,if=virtio", "-serial", "stdio", "-monitor", "none",
		// A guestfwd to a chardev is one connection made at start; cmd: makes one per
		// connection the guest opens (busybox nc relays it to the server).
		"-nic", "user,model=virtio-net-pci,mac=02:00:00:00:00:01,restrict=on,net=198.18.0.0/24,guestfwd=tcp:"+serverIP+":8080-cmd:busybox nc "+
			strings.ReplaceAll(server, ":", " "))
	var out logbuf.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// FLARECAST_QEMU_CONSOLE names a file that gets the console too, to follow a slow boot.
	if p := os.Getenv("FLARECAST_QEMU_CONSOLE"); p != "" {
		if f, err := os.Create(p); err == nil {
			defer f.Close()
			cmd.Stdout = io.MultiWriter(&out, f)
			cmd.Stderr = cmd.Stdout
		}
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	start := time.Now()
	for !done(out.String()) {
		if ctx.Err() != nil {
			tail := out.String()
			t.Fatalf("not done within %s; the console's end:\n%s", limit, tail[max(0, len(tail)-4000):])
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("the installed disk booted and was done in %s", time.Since(start).Round(time.Second))
	console := out.String()
	if !strings.Contains(console, "root=PARTUUID=") {
		t.Errorf("the kernel's command line lacks the root's PARTUUID")
	}
	// The NIC, named eth0 by the agent's .link from its MAC, came up with the plan's address.
	if !regexp.MustCompile(`Finished .{0,20}networking\.service`).MatchString(console) {
		t.Errorf("ifupdown did not raise the node's interfaces")
	}
}
