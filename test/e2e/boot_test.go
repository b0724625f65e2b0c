package e2e

import (
	"strings"
	"testing"
)

// TestPXEBoot boots a qemu guest from the network, once per firmware and server: DHCP gives
// iPXE (the NIC's ROM) the script URL, iPXE fetches the script, the kernel and flarecast's
// initramfs over HTTP, and the initramfs's /init loads its modules, gets a lease with busybox
// udhcpc and fetches a file from the server. The servers are dnsmasq with a static HTTP
// server (the baseline), and flarecast's DHCP and HTTP boot services.
func TestPXEBoot(t *testing.T) {
	requireE2E(t)
	for _, server := range []string{"dnsmasq", "flarecast"} {
		for _, fw := range []firmware{bios, uefi} {
			t.Run(server+"/"+string(fw), func(t *testing.T) {
				l := newLab(t)
				b := newBootFiles(t, l.dir)
				if server == "dnsmasq" {
					l.startDnsmasq(b, fw == uefi)
				} else {
					l.startFlarecast(b, fw == uefi)
				}
				r := l.boot(fw)
				if want := "200 " + b.hello; r.reply != want {
					t.Errorf("/init got %q, want %q", r.reply, want)
				}
				if !strings.Contains(r.serial, "modules loaded (<nil>)") {
					t.Errorf("not every module of the image loaded:\n%s", tail(r.serial))
				}
				t.Logf("%s %s: /init running %.1f s after qemu started", server, fw, r.initRunning.Seconds())
			})
		}
	}
}
