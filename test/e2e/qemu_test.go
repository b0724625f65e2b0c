package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Markers test/e2e/testinit prints on the serial console.
const (
	markerRunning = "flarecast-e2e: init running"
	markerReply   = "flarecast-e2e: reply"
	markerFailed  = "flarecast-e2e: failed"
)

// bootTimeout bounds one boot: about 30 s under TCG on an idle machine, several times that
// when the two cores are shared. FLARECAST_E2E_BOOT_TIMEOUT (a Go duration) changes it.
var bootTimeout = func() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("FLARECAST_E2E_BOOT_TIMEOUT")); err == nil && d > 0 {
		return d
	}
	return 5 * time.Minute
}()

// firmware is how the guest starts: SeaBIOS on the i440FX machine, or OVMF on q35.
type firmware string

const (
	bios firmware = "bios"
	uefi firmware = "uefi"
)

// bootResult is what a boot showed on its serial console, timed from qemu's start.
type bootResult struct {
	start       time.Time
	initRunning time.Duration // until /init printed its first line
	reply       string        // what /init got from the server, after the marker
	serial      string
}

// replyLine ends at its newline: the console file is read while the guest writes it, and a
// line read half-written was once taken for the whole reply.
var replyLine = regexp.MustCompile(regexp.QuoteMeta(markerReply) + ` (.*)\n`)

// boot starts qemu under TCG in the lab and waits until testinit has reported and the
// guest powered off; see bootUntil.
func (l *lab) boot(fw firmware) bootResult {
	l.t.Helper()
	return l.bootUntil(fw, func(out string, r *bootResult) bool {
		if strings.Contains(out, markerFailed) {
			l.t.Fatalf("%s boot: /init failed\nserial console:\n%s", fw, tail(out))
		}
		m := replyLine.FindStringSubmatch(out)
		if m == nil {
			return false
		}
		r.reply = strings.TrimSpace(m[1])
		return true
	}, true)
}

// bootUntil starts qemu under TCG in the lab, its NIC (virtio-net, whose option ROM is
// Debian's iPXE) on the tap, booting from the network, and polls the serial console (a file
// the test reads as it grows) until done says so; with powersOff it then waits for the guest
// to end qemu, otherwise the lab's cleanup kills it.
func (l *lab) bootUntil(fw firmware, done func(serial string, r *bootResult) bool, powersOff bool) bootResult {
	l.t.Helper()
	serial := filepath.Join(l.dir, "serial-"+string(fw)+".log")
	args := []string{"qemu-system-x86_64", "-accel", "tcg", "-m", "1024", "-smp", "1",
		"-display", "none", "-monitor", "none", "-no-reboot", "-serial", "file:" + serial,
		"-netdev", "tap,id=n0,ifname=" + tap + ",script=no,downscript=no"}
	nic := "virtio-net-pci,netdev=n0,mac=" + nodeMAC
	args = append(args, firmwareArgs(l.t, l.dir, fw)...)
	if fw == uefi {
		nic += ",bootindex=1"
	} else {
		args = append(args, "-boot", "n")
	}
	args = append(args, "-device", nic)
	start := time.Now()
	p := l.start("qemu-"+string(fw), args...)
	r := bootResult{start: start}
	deadline := time.After(bootTimeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
		case <-p.done:
		case <-deadline:
			l.t.Fatalf("%s boot: no result after %s\nserial console:\n%s\nqemu:\n%s", fw, bootTimeout, tail(readFile(l.t, serial)), readFile(l.t, p.log))
		}
		if l.ackLog != "" && strings.Contains(readFile(l.t, l.ackLog), "DHCPACK(") {
			l.stamps.note(&l.stamps.answered, ackPath)
		}
		out := readFile(l.t, serial)
		if r.initRunning == 0 && strings.Contains(out, markerRunning) {
			r.initRunning = time.Since(start)
		}
		if done(out, &r) {
			r.serial = out
			if powersOff {
				select {
				case <-p.done:
				case <-time.After(30 * time.Second):
					l.t.Errorf("%s boot: qemu still runs 30 s after the guest's reply", fw)
				}
			}
			return r
		}
		select {
		case <-p.done:
			l.t.Fatalf("%s boot: qemu ended before the boot was done (%v)\nserial console:\n%s\nqemu:\n%s", fw, p.cmd.ProcessState, tail(out), readFile(l.t, p.log))
		default:
		}
	}
}

// firmwareArgs are qemu's machine and firmware for fw: SeaBIOS on i440FX is qemu's default;
// OVMF on q35 gets its code read-only and a fresh copy of the variables in dir, so that
// every boot starts from the firmware's own boot order.
func firmwareArgs(t *testing.T, dir string, fw firmware) []string {
	t.Helper()
	if fw != uefi {
		return nil
	}
	vars := filepath.Join(dir, "OVMF_VARS.fd")
	copyFile(t, "/usr/share/OVMF/OVMF_VARS_4M.fd", vars)
	return []string{"-machine", "q35",
		"-drive", "if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd",
		"-drive", "if=pflash,format=raw,unit=1,file=" + vars}
}

// tail keeps the end of a console log for a failure message.
func tail(s string) string {
	lines := strings.Split(s, "\n")
	if len(lines) > 60 {
		lines = append([]string{fmt.Sprintf("... (%d lines before)", len(lines)-60)}, lines[len(lines)-60:]...)
	}
	return strings.Join(lines, "\n")
}

func init() {
	// qemu finds the iPXE ROMs and SeaBIOS in its data directories; nothing to set, but a
	// stray QEMU_AUDIO_DRV or display variable from the caller must not change the boot.
	os.Unsetenv("DISPLAY")
}

// A reply line the guest has not finished writing is not the reply yet.
func TestAReplyHalfWrittenIsNotTheReply(t *testing.T) {
	if m := replyLine.FindStringSubmatch("x\n" + markerReply + " 200 flarecast-e2e-"); m != nil {
		t.Fatalf("a half-written line matched: %q", m)
	}
	m := replyLine.FindStringSubmatch("x\n" + markerReply + " 200 flarecast-e2e-hello-1\r\nmore")
	if m == nil || strings.TrimSpace(m[1]) != "200 flarecast-e2e-hello-1" {
		t.Fatalf("the whole line: %q", m)
	}
}
