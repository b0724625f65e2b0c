// Package earlyboot is what a program running as /init of the flarecast initramfs does before
// anything else: mount the kernel's file systems, load the kernel modules the image lists (in
// its order, with finit_module: no modprobe), read the kernel command line, and bring up the
// provisioning interface with busybox udhcpc. The agent and the e2e tests' init use it.
//
// It depends on the standard library and golang.org/x/sys only, so that /init stays small;
// it knows nothing of plans, archives or the install server.
package earlyboot

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"

	"golang.org/x/sys/unix"
)

// ModuleList is where the image lists its modules (initramfs.ModuleLoadList, absolute).
const ModuleList = "/etc/flarecast/modules"

// DHCPScript is the image's udhcpc lease script (busybox builds differ on where they look).
const DHCPScript = "/usr/share/udhcpc/default.script"

// DefaultPath is the PATH of /init's children. The kernel starts /init with HOME and TERM
// only, so without it no tool (ip, udhcpc, mkfs) is found by name.
const DefaultPath = "/usr/sbin:/usr/bin:/sbin:/bin"

// SetPath gives the process DefaultPath when it has no PATH (as /init).
func SetPath() {
	if os.Getenv("PATH") == "" {
		os.Setenv("PATH", DefaultPath)
	}
}

// MountPseudo mounts /proc, /sys, /dev (devtmpfs), /run and /tmp. One already mounted is
// left as it is.
func MountPseudo() error {
	var errs []error
	for _, m := range []struct{ fs, dir string }{
		{"proc", "/proc"}, {"sysfs", "/sys"}, {"devtmpfs", "/dev"}, {"tmpfs", "/run"}, {"tmpfs", "/tmp"},
	} {
		if err := os.MkdirAll(m.dir, 0o755); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := unix.Mount(m.fs, m.dir, m.fs, unix.MS_NOSUID, ""); err != nil && !errors.Is(err, unix.EBUSY) {
			errs = append(errs, fmt.Errorf("mount %s on %s: %w", m.fs, m.dir, err))
		}
	}
	return errors.Join(errs...)
}

// LoadModules loads every module in list, in order. A module already loaded counts as
// loaded; one the kernel refuses (no such hardware is not a refusal, a missing symbol or a
// CPU feature is) is reported and the others still load, since a node needs only some.
func LoadModules(list string) (loaded int, err error) {
	b, err := os.ReadFile(list)
	if err != nil {
		return 0, fmt.Errorf("module list: %w", err)
	}
	var errs []error
	for _, p := range strings.Fields(string(b)) {
		if err := loadModule(p); err != nil {
			errs = append(errs, err)
			continue
		}
		loaded++
	}
	return loaded, errors.Join(errs...)
}

func loadModule(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("module %s: %w", p, err)
	}
	defer f.Close()
	// ENODEV: the module has nothing to drive here (efivarfs on a node that booted BIOS).
	if err := unix.FinitModule(int(f.Fd()), "", 0); err != nil && !errors.Is(err, unix.EEXIST) && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("load module %s: %w", p, err)
	}
	return nil
}

// Cmdline reads the kernel command line: key=value words as a map, a bare word as key "".
func Cmdline() (map[string]string, error) {
	b, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return nil, err
	}
	return ParseCmdline(string(b)), nil
}

// ParseCmdline splits a kernel command line into its key=value words (the last one wins).
func ParseCmdline(s string) map[string]string {
	m := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Split(bufio.ScanWords)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), "=")
		m[k] = v
	}
	return m
}

// BootInterface names the interface to configure: the one whose MAC BOOTIF gives (as
// pxelinux and iPXE scripts pass it, 01-aa-bb-…), else the first that is not loopback.
func BootInterface(bootif string) (string, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return "", err
	}
	want := ""
	if bootif != "" {
		want = strings.ReplaceAll(strings.TrimPrefix(strings.ToLower(bootif), "01-"), "-", ":")
	}
	for _, i := range ifs {
		if i.Flags&net.FlagLoopback != 0 {
			continue
		}
		if want == "" || i.HardwareAddr.String() == want {
			return i.Name, nil
		}
	}
	if want != "" {
		return "", fmt.Errorf("no interface has the boot MAC %s", want)
	}
	return "", errors.New("no network interface (is its driver in the module list?)")
}

// DHCP configures iface with busybox udhcpc and the image's lease script, and returns once
// it holds a lease (or udhcpc gave up).
func DHCP(ctx context.Context, iface string) error {
	// udhcpc sends on the interface before its script runs: the link must be up already.
	if out, err := exec.CommandContext(ctx, "ip", "link", "set", "dev", iface, "up").CombinedOutput(); err != nil {
		return fmt.Errorf("ip link set %s up: %w: %s", iface, err, strings.TrimSpace(string(out)))
	}
	out, err := exec.CommandContext(ctx, "udhcpc", "-i", iface, "-s", DHCPScript, "-f", "-q", "-n", "-t", "10", "-T", "2").CombinedOutput()
	if err != nil {
		return fmt.Errorf("udhcpc on %s: %w: %s", iface, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// PowerOff flushes the file systems and turns the machine off.
func PowerOff() error {
	unix.Sync()
	return unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
}
