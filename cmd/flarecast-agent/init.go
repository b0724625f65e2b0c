package main

import (
	"bufio"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// moduleList is where the initramfs lists the kernel modules to load, one path a line, each
// after those it needs (internal/initramfs.ModuleLoadList).
const moduleList = "/etc/flarecast/modules"

// bootInit does, as /init, what an init does before anything else: the kernel's file
// systems, the modules the node needs for its disks and NICs, and a lease on a NIC.
func bootInit(log *slog.Logger) {
	// The kernel starts /init with HOME and TERM only: without a PATH, ip and udhcpc (and
	// later sgdisk and mkfs) are not found by name.
	if os.Getenv("PATH") == "" {
		os.Setenv("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
	}
	for _, m := range []struct{ src, dst, fstype string }{
		{"proc", "/proc", "proc"}, {"sysfs", "/sys", "sysfs"}, {"devtmpfs", "/dev", "devtmpfs"},
		{"tmpfs", "/run", "tmpfs"}, {"tmpfs", "/tmp", "tmpfs"},
	} {
		os.MkdirAll(m.dst, 0o755)
		if err := syscall.Mount(m.src, m.dst, m.fstype, 0, ""); err != nil && err != syscall.EBUSY {
			log.Error("mount", "fs", m.fstype, "at", m.dst, "err", err)
		}
	}
	loadModules(log)
	exec.Command("ip", "link", "set", "lo", "up").Run()
	getLease(log)
}

func loadModules(log *slog.Logger) {
	f, err := os.Open(moduleList)
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		p := strings.TrimSpace(sc.Text())
		if p == "" || strings.HasPrefix(p, "#") {
			continue
		}
		if err := finitModule(p); err != nil && err != unix.EEXIST {
			log.Error("load module", "module", p, "err", err)
		}
	}
}

// finitModule loads a module file; a compressed one is left to the kernel to decompress.
func finitModule(path string) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	flags := 0
	if strings.HasSuffix(path, ".xz") || strings.HasSuffix(path, ".zst") || strings.HasSuffix(path, ".gz") {
		flags = unix.MODULE_INIT_COMPRESSED_FILE
	}
	return unix.FinitModule(fd, "", flags)
}

// getLease asks for a lease on each Ethernet NIC in turn (busybox udhcpc, with the
// initramfs's script) until one gets an address; the NICs come up slowly after their
// modules load, so it tries for a minute.
func getLease(log *slog.Logger) {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		ifs, _ := net.Interfaces()
		for _, i := range ifs {
			if i.Flags&net.FlagLoopback != 0 || len(i.HardwareAddr) != 6 {
				continue
			}
			exec.Command("ip", "link", "set", i.Name, "up").Run()
			if err := exec.Command("udhcpc", "-i", i.Name, "-n", "-q", "-f", "-t", "3", "-T", "2").Run(); err == nil {
				log.Info("lease", "interface", i.Name, "mac", i.HardwareAddr.String())
				return
			}
		}
		time.Sleep(2 * time.Second)
	}
	log.Error("no lease on any NIC within a minute; the agent API is tried anyway")
}

// stayWithShell keeps /init alive with a shell on the console, started again when it exits:
// the node never reboots into what failed.
func stayWithShell(log *slog.Logger) {
	for {
		cmd := exec.Command("/bin/sh")
		if tty, err := os.OpenFile("/dev/console", os.O_RDWR, 0); err == nil {
			cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
			cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
		}
		if err := cmd.Run(); err != nil {
			log.Error("console shell", "err", err)
			time.Sleep(5 * time.Second)
		}
	}
}
