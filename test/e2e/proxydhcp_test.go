package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/flarecast/flarecast/internal/dhcp"
	"github.com/flarecast/flarecast/internal/testsupport/netlab"
)

// TestProxyDHCPBootBesideTheSitesDHCPServer boots a qemu guest on a link where the site's own
// DHCP server (dnsmasq on another host of the bridge, addresses only: no boot file, no
// next-server, no TFTP) gives the node its address, and flarecast's DHCP runs in proxy mode
// beside it, giving the NIC's iPXE ROM its boot options only. The node gets its address from
// dnsmasq, its script from flarecast, and its /init fetches a file from the install server:
// the proxyDHCP mode works with a real PXE ROM, not only with hand-made packets.
func TestProxyDHCPBootBesideTheSitesDHCPServer(t *testing.T) {
	requireE2E(t)
	for _, fw := range []firmware{bios, uefi} {
		t.Run(string(fw), func(t *testing.T) {
			l := newLab(t)
			site := netlab.NewNetns(t, "sitedhcp")
			l.ns.IP("link", "add", "sitedhcp0", "type", "veth", "peer", "name", "eth0", "netns", site.Name)
			l.ns.IP("link", "set", "sitedhcp0", "master", bridge, "up")
			site.IP("addr", "add", "198.18.0.2/24", "dev", "eth0")
			site.IP("link", "set", "eth0", "up")
			logPath := filepath.Join(l.dir, "site-dhcp.log")
			logf, err := os.Create(logPath)
			if err != nil {
				t.Fatal(err)
			}
			cmd := site.Command("dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--port=0",
				"--user=root", "--pid-file=", "--log-facility=-", "--log-dhcp",
				"--interface=eth0", "--bind-interfaces", "--except-interface=lo",
				"--dhcp-leasefile="+filepath.Join(l.dir, "site-dhcp.leases"),
				"--dhcp-range=198.18.0.100,198.18.0.200,255.255.255.0,1h",
				"--dhcp-host="+nodeMAC+","+nodeIP+",node1")
			cmd.Stdout, cmd.Stderr = logf, logf
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			if err := cmd.Start(); err != nil {
				t.Fatalf("dnsmasq: %v", err)
			}
			t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); cmd.Wait(); logf.Close() })
			l.ackLog = logPath

			b := newBootFiles(t, l.dir)
			l.dhcpMode = dhcp.ModeProxy
			l.startFlarecast(b, fw == uefi)
			r := l.boot(fw)
			if want := "200 " + b.hello; r.reply != want {
				t.Errorf("/init got %q, want %q\nsite DHCP:\n%s", r.reply, want, readFile(t, logPath))
			}
			// The address came from the site's server, to the node's MAC.
			if log := readFile(t, logPath); !strings.Contains(log, "DHCPACK(eth0) "+nodeIP+" "+nodeMAC) {
				t.Errorf("the site's DHCP server acked no %s to %s:\n%s", nodeIP, nodeMAC, log)
			}
			// And the boot options from flarecast, which gave no address.
			fc := readFile(t, filepath.Join(l.dir, "flarecast.log"))
			if !strings.Contains(fc, `msg="dhcp: proxy`) || !strings.Contains(fc, "node=node1") {
				t.Errorf("flarecast's log shows no proxy answer to node1:\n%s", fc)
			}
			if strings.Contains(fc, `msg="dhcp: ACK"`) {
				t.Errorf("flarecast in proxy mode acked an address:\n%s", fc)
			}
			t.Logf("%s: /init running %.1f s after qemu started", fw, r.initRunning.Seconds())
		})
	}
}
