package e2e

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"
)

// TestBenchP7 is benchmark P7: a qemu TCG guest (SeaBIOS, the NIC's iPXE ROM) from power-on
// to its /init running, booted by dnsmasq with a static HTTP server and by flarecast's DHCP
// and HTTP boot services, the same kernel, initramfs and script, alternating in one run (every other
// round the other side first). It
// reports each side's median, the ratio, and where the time goes (from the servers' view:
// when the first DHCP ACK went out, when iPXE asked for its script, when the initramfs was
// sent; and when /init printed). It runs with FLARECAST_BENCH_P7=1 (hack/bench-netboot.sh); FLARECAST_P7_ROUNDS boots per side (3).
func TestBenchP7(t *testing.T) {
	if os.Getenv("FLARECAST_BENCH_P7") == "" {
		t.Skip("benchmark P7 runs with FLARECAST_BENCH_P7=1 (hack/bench-netboot.sh)")
	}
	requireE2E(t)
	rounds := 3
	if v := os.Getenv("FLARECAST_P7_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("FLARECAST_P7_ROUNDS=%q: want a count", v)
		}
		rounds = n
	}
	type phases struct{ ack, script, initramfs, init time.Duration }
	got := map[string][]phases{}
	for i := 0; i < rounds; i++ {
		// Every other round flips which side boots first, so that a load on the shared
		// machine falls on both.
		order := []string{"dnsmasq", "flarecast"}
		if i%2 == 1 {
			slices.Reverse(order)
		}
		for _, server := range order {
			t.Run(fmt.Sprintf("%s/%d", server, i+1), func(t *testing.T) {
				l := newLab(t)
				b := newBootFiles(t, l.dir)
				if server == "dnsmasq" {
					l.startDnsmasq(b, false)
				} else {
					l.startFlarecast(b, false)
				}
				r := l.boot(bios)
				if want := "200 " + b.hello; r.reply != want {
					t.Fatalf("/init got %q, want %q", r.reply, want)
				}
				p := phases{
					ack:       l.stamps.get(l.stamps.answered, ackPath).Sub(r.start),
					script:    l.stamps.get(l.stamps.requested, scriptPath).Sub(r.start),
					initramfs: l.stamps.get(l.stamps.answered, "/boot/initramfs.img").Sub(r.start),
					init:      r.initRunning,
				}
				got[server] = append(got[server], p)
				t.Logf("%s: DHCP ACK %.1f s, script asked %.1f s, initramfs sent %.1f s, /init running %.1f s", server, p.ack.Seconds(), p.script.Seconds(), p.initramfs.Seconds(), p.init.Seconds())
			})
		}
	}
	median := func(server string, f func(phases) time.Duration) time.Duration {
		var ds []time.Duration
		for _, p := range got[server] {
			ds = append(ds, f(p))
		}
		if len(ds) == 0 {
			return 0
		}
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	for _, server := range []string{"dnsmasq", "flarecast"} {
		if len(got[server]) != rounds {
			t.Fatalf("%s: %d of %d boots completed", server, len(got[server]), rounds)
		}
	}
	for _, server := range []string{"dnsmasq", "flarecast"} {
		t.Logf("P7 %-9s median of %d: DHCP ACK %5.1f s, script asked %5.1f s, initramfs sent %5.1f s, /init running %5.1f s", server, rounds,
			median(server, func(p phases) time.Duration { return p.ack }).Seconds(),
			median(server, func(p phases) time.Duration { return p.script }).Seconds(),
			median(server, func(p phases) time.Duration { return p.initramfs }).Seconds(),
			median(server, func(p phases) time.Duration { return p.init }).Seconds())
	}
	d := median("dnsmasq", func(p phases) time.Duration { return p.init })
	f := median("flarecast", func(p phases) time.Duration { return p.init })
	t.Logf("P7 ratio flarecast/dnsmasq (power-on to /init): %.2f (goal <= 1.0)", f.Seconds()/d.Seconds())
}
