package main

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/flarecast/flarecast/internal/earlyboot"
)

// bootInit does, as /init, what an init does before anything else (internal/earlyboot): the
// kernel's file systems, the modules the image lists for the node's disks and NICs, and a
// lease on the boot NIC (BOOTIF= when iPXE gives it, else the first Ethernet NIC).
func bootInit(log *slog.Logger) {
	// The kernel starts /init without a PATH: ip and udhcpc (and later sgdisk and mkfs)
	// would not be found by name.
	earlyboot.SetPath()
	if err := earlyboot.MountPseudo(); err != nil {
		log.Error("mount the kernel's file systems", "err", err)
	}
	if n, err := earlyboot.LoadModules(earlyboot.ModuleList); err != nil {
		log.Error("load modules", "loaded", n, "err", err)
	}
	exec.Command("ip", "link", "set", "lo", "up").Run()
	args, _ := earlyboot.Cmdline()
	// NICs come up a while after their modules load: ask for a minute.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for ctx.Err() == nil {
		iface, err := earlyboot.BootInterface(args["BOOTIF"])
		if err == nil {
			if err = earlyboot.DHCP(ctx, iface); err == nil {
				log.Info("lease", "interface", iface)
				return
			}
		}
		log.Info("no lease yet", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
		}
	}
	log.Error("no lease within a minute; the agent API is tried anyway")
}

// reboot flushes the file systems and restarts the machine into the disk it installed.
func reboot() error {
	syscall.Sync()
	return syscall.Reboot(syscall.LINUX_REBOOT_CMD_RESTART)
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
