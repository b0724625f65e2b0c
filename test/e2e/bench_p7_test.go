package e2e

import (
	"context"
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
// sent; and when /init printed). It runs with FLARECAST_BENCH_P7=1 (hack/bench-netboot.sh);
// FLARECAST_P7_ROUNDS boots per side (3). FLARECAST_P7_RA=1 adds a third side, flarecast with
// the test sending IPv6 router advertisements on the link (see sendRouterAdvertisements).
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
	sides := []string{"dnsmasq", "flarecast"}
	if os.Getenv("FLARECAST_P7_RA") != "" {
		sides = append(sides, "flarecast+ra")
	}
	type phases struct{ ack, script, initramfs, init time.Duration }
	got := map[string][]phases{}
	for i := 0; i < rounds; i++ {
		// Every other round flips which side boots first, so that a load on the shared
		// machine falls on both.
		order := slices.Clone(sides)
		if i%2 == 1 {
			slices.Reverse(order)
		}
		for _, server := range order {
			t.Run(fmt.Sprintf("%s/%d", server, i+1), func(t *testing.T) {
				l := newLab(t)
				b := newBootFiles(t, l.dir)
				switch server {
				case "dnsmasq":
					l.startDnsmasq(b, false)
				case "flarecast":
					l.startFlarecast(b, false)
				case "flarecast+ra":
					l.startFlarecast(b, false)
					ctx, cancel := context.WithCancel(context.Background())
					t.Cleanup(cancel)
					if err := l.sendRouterAdvertisements(ctx); err != nil {
						t.Fatal(err)
					}
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
	sorted := func(server string, f func(phases) time.Duration) []time.Duration {
		var ds []time.Duration
		for _, p := range got[server] {
			ds = append(ds, f(p))
		}
		slices.Sort(ds)
		return ds
	}
	median := func(server string, f func(phases) time.Duration) time.Duration {
		ds := sorted(server, f)
		return ds[len(ds)/2]
	}
	for _, server := range sides {
		if len(got[server]) != rounds {
			t.Fatalf("%s: %d of %d boots completed", server, len(got[server]), rounds)
		}
	}
	for _, server := range sides {
		t.Logf("P7 %-9s median of %d: DHCP ACK %5.1f s, script asked %5.1f s, initramfs sent %5.1f s, /init running %5.1f s", server, rounds,
			median(server, func(p phases) time.Duration { return p.ack }).Seconds(),
			median(server, func(p phases) time.Duration { return p.script }).Seconds(),
			median(server, func(p phases) time.Duration { return p.initramfs }).Seconds(),
			median(server, func(p phases) time.Duration { return p.init }).Seconds())
	}
	init := func(p phases) time.Duration { return p.init }
	sent := func(p phases) time.Duration { return p.initramfs }
	for _, server := range sides[1:] {
		// The fastest boot is the one the shared machine disturbed least; the kernel's part
		// (initramfs sent to /init) is the same work on every side and swings most with load.
		t.Logf("P7 ratio %s/dnsmasq, power-on to /init: median %.2f, fastest %.2f (goal <= 1.0); power-on to initramfs sent (the servers' part): median %.2f",
			server, median(server, init).Seconds()/median("dnsmasq", init).Seconds(),
			sorted(server, init)[0].Seconds()/sorted("dnsmasq", init)[0].Seconds(),
			median(server, sent).Seconds()/median("dnsmasq", sent).Seconds())
	}
}
