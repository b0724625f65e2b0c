package agent

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flarecast/flarecast/internal/agentapi"
	"github.com/flarecast/flarecast/internal/installplan"
)

var (
	digestA = "sha256:" + strings.Repeat("a", 64)
	digestB = "sha256:" + strings.Repeat("b", 64)
)

func TestAResidentNodeReinstallsOnlyWhenToldToInstallAnotherDigest(t *testing.T) {
	install := func(d string) installplan.PlanResponse {
		return installplan.PlanResponse{Action: installplan.ActionInstall, Archive: installplan.Archive{Name: "edge-masters", Digest: d}}
	}
	for _, c := range []struct {
		name string
		resp installplan.PlanResponse
		want residentVerdict
		says string
	}{
		{"boot local, the rollout's reason", installplan.PlanResponse{Action: installplan.ActionBootLocal, Message: "waits for its turn (MaxUnavailable)"}, keepRunning, "waits for its turn (MaxUnavailable)"},
		{"install of another digest", install(digestB), reinstallNow, "archive edge-masters (" + digestB + ") replaces " + digestA},
		{"install of the digest it runs", install(digestA), keepRunning, "which this node runs already: not reinstalled"},
		{"install of no digest", install(""), keepRunning, "names no archive digest"},
		{"an action it does not know", installplan.PlanResponse{Action: "Wipe", Archive: installplan.Archive{Digest: digestB}}, keepRunning, `says "Wipe"`},
	} {
		got, msg := decideResident(digestA, c.resp)
		if got != c.want || !strings.Contains(msg, c.says) {
			t.Errorf("%s: %v %q, want %v saying %q", c.name, got, msg, c.want, c.says)
		}
	}
}

// efibootmgr -v of OVMF with a disk, PXE and HTTP boot over IPv4 and IPv6, and an inactive
// PXE entry first in BootOrder.
const ovmfListing = `BootCurrent: 0001
Timeout: 0 seconds
BootOrder: 0005,0001,0004,0003,0002,0000
Boot0000* UiApp	FvVol(7cb8bdc9-f8eb-4f34-aaea-3ee4af6516a1)/FvFile(462caa21-7614-4503-836e-8ab6f4662331)
Boot0001* UEFI QEMU HARDDISK QM00001 	PciRoot(0x0)/Pci(0x1,0x1)/Ata(Primary,Master,0x0){auto_created_boot_option}
Boot0002* UEFI PXEv4 (MAC:525400FC0A01)	PciRoot(0x0)/Pci(0x3,0x0)/MAC(525400fc0a01,0x1)/IPv4(0.0.0.0,0x0,DHCP,0.0.0.0,0.0.0.0,0.0.0.0){auto_created_boot_option}
Boot0003* UEFI HTTPv4 (MAC:525400FC0A01)	PciRoot(0x0)/Pci(0x3,0x0)/MAC(525400fc0a01,0x1)/IPv4(0.0.0.0,0x0,DHCP,0.0.0.0,0.0.0.0,0.0.0.0)/Uri(){auto_created_boot_option}
Boot0004* UEFI PXEv6 (MAC:525400FC0A01)	PciRoot(0x0)/Pci(0x3,0x0)/MAC(525400fc0a01,0x1)/IPv6([::]:<->[::]:,0x0,Static){auto_created_boot_option}
Boot0005  UEFI PXEv4 (MAC:525400FC0A02)	PciRoot(0x0)/Pci(0x4,0x0)/MAC(525400fc0a02,0x1)/IPv4(0.0.0.0,0x0,DHCP,0.0.0.0,0.0.0.0,0.0.0.0)
`

func TestTheNextBootGoesToTheFirmwaresPXEEntry(t *testing.T) {
	num, label, err := networkBootEntry(ovmfListing)
	if err != nil || num != "0002" || label != "UEFI PXEv4 (MAC:525400FC0A01)" {
		t.Fatalf("OVMF: %s %q %v, want the active PXEv4 entry 0002", num, label, err)
	}
	// Without a PXE over IPv4 entry, the first network entry in BootOrder (HTTP boot here).
	noV4 := strings.ReplaceAll(ovmfListing, "Boot0002* UEFI PXEv4", "Boot0002  UEFI PXEv4")
	if num, _, err := networkBootEntry(noV4); err != nil || num != "0004" {
		t.Fatalf("no active PXEv4: %s %v, want 0004 (before 0003 in BootOrder)", num, err)
	}
	// A vendor's label without a device path (efibootmgr without -v on an old version).
	if num, _, err := networkBootEntry("BootOrder: 0001,0000\nBoot0000* Hard Drive\nBoot0001* IBA GE Slot 0100 v1553 PXE\n"); err != nil || num != "0001" {
		t.Fatalf("vendor PXE label: %s %v", num, err)
	}
	if _, _, err := networkBootEntry("BootOrder: 0000\nBoot0000* debian\tHD(1,GPT,...)/File(\\EFI\\debian\\shimx64.efi)\n"); err == nil ||
		!strings.Contains(err.Error(), "no active network boot entry") {
		t.Fatalf("a firmware with no network entry: %v", err)
	}
}

func TestABIOSNodeBootsGRUBsIPXEEntryOnce(t *testing.T) {
	sysfs := t.TempDir() // no firmware/efi: BIOS
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "boot/grub"), 0o755)
	nb := NextBoot{Root: root, Sysfs: sysfs}
	cfg := grubConfig("edge-masters", digestA, "1234-abcd", "/boot", "vmlinuz-6.1", "initrd.img-6.1", "p-uuid")
	os.WriteFile(filepath.Join(root, "boot/grub/grub.cfg"), []byte(cfg), 0o644)
	if err := nb.Set(context.Background()); err == nil || !strings.Contains(err.Error(), "no flarecast-netboot entry (the archive holds no /boot/ipxe.lkrn") {
		t.Fatalf("no iPXE in the archive: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "boot/grub/grubenv")); !os.IsNotExist(err) {
		t.Fatalf("grubenv written without an entry to boot: %v", err)
	}
	if err := (NextBoot{Root: root, Sysfs: sysfs, BIOSNetworkFirst: true}).Set(context.Background()); err != nil {
		t.Fatalf("network first in the boot order: %v", err)
	}
	os.WriteFile(filepath.Join(root, "boot/grub/grub.cfg"), []byte(cfg+netbootEntry("1234-abcd", "/boot")), 0o644)
	if err := nb.Set(context.Background()); err != nil {
		t.Fatal(err)
	}
	env, err := os.ReadFile(filepath.Join(root, "boot/grub/grubenv"))
	if err != nil || len(env) != 1024 || !bytes.HasPrefix(env, []byte("# GRUB Environment Block\nnext_entry=flarecast-netboot\n#")) {
		t.Fatalf("grubenv (%d bytes, %v):\n%.80s", len(env), err, env)
	}
	if editenv, err := exec.LookPath("grub-editenv"); err == nil {
		out, err := exec.Command(editenv, filepath.Join(root, "boot/grub/grubenv"), "list").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "next_entry=flarecast-netboot" {
			t.Fatalf("grub-editenv list: %v %s", err, out)
		}
	}
	// The configuration boots next_entry once, and its entry loads iPXE from /boot.
	for _, want := range []string{"load_env", `set default="${next_entry}"`, "save_env next_entry", "--id flarecast-netboot {", "linux16 /boot/ipxe.lkrn"} {
		if !strings.Contains(cfg+netbootEntry("1234-abcd", "/boot"), want) {
			t.Errorf("grub.cfg lacks %q", want)
		}
	}
}

// residentServer is the real agent API handler over a Memory, on a test HTTP server, and a
// client of it for node ns/c/n9.
func residentServer(t *testing.T) (*agentapi.Memory, *agentapi.Client, agentapi.NodeRef) {
	mem, c, ref, _ := residentServerCounting(t)
	return mem, c, ref
}

// planCounter counts the plans the server answered with 200.
type planCounter struct {
	mu sync.Mutex
	n  int
}

func (p *planCounter) get() int { p.mu.Lock(); defer p.mu.Unlock(); return p.n }

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) { w.code = code; w.ResponseWriter.WriteHeader(code) }

func residentServerCounting(t *testing.T) (*agentapi.Memory, *agentapi.Client, agentapi.NodeRef, *planCounter) {
	t.Helper()
	secret := []byte("resident test site secret")
	ref := agentapi.NodeRef{Namespace: "ns", Cluster: "c", Node: "n9"}
	mem := agentapi.NewMemory()
	h, err := agentapi.NewHandler(agentapi.Options{Secret: secret, Plans: mem, Events: mem})
	if err != nil {
		t.Fatal(err)
	}
	plans := &planCounter{}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, code: 200}
		h.ServeHTTP(sw, r)
		if r.Method == "GET" && strings.HasSuffix(r.URL.Path, "/plan") && sw.code == 200 {
			plans.mu.Lock()
			plans.n++
			plans.mu.Unlock()
		}
	}))
	t.Cleanup(hs.Close)
	c, err := agentapi.NewClient(hs.URL, ref, installplan.Token(secret, ref.Namespace, ref.Cluster, ref.Node), agentapi.ClientOptions{Attempts: 2, MinBackoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return mem, c, ref, plans
}

func runningRoot(t *testing.T, digest string) string {
	t.Helper()
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "var/lib/flarecast/stages"), 0o755)
	os.WriteFile(filepath.Join(root, InstalledRecord), []byte(`{"node":"ns/c/n9","archive":"edge-masters","digest":"`+digest+`"}`), 0o644)
	os.WriteFile(filepath.Join(root, StageDir, "after-services.done"), []byte("done\n"), 0o644)
	return root
}

// The resident agent beats Running with the digest it runs while the server says BootLocal
// (or Install of that same digest); told to install another digest it sets the next boot to
// the network, then reports Rebooting, then hands the node back. A node that cannot go back
// to the network says so, stays Running and tries again.
func TestTheResidentAgentBeatsRunningAndReinstallsWhenTold(t *testing.T) {
	mem, client, ref, plans := residentServerCounting(t)
	mem.SetPlan(ref, installplan.PlanResponse{Action: installplan.ActionBootLocal, Message: "waits for its turn in Cluster c's rollout (MaxUnavailable)"})
	root := runningRoot(t, digestA)

	installPlan := func(d string) installplan.PlanResponse {
		return installplan.PlanResponse{Action: installplan.ActionInstall, Archive: installplan.Archive{Name: "edge-masters", Digest: d},
			Plan: installplan.Plan{Version: installplan.Version, Namespace: "ns", Cluster: "c", Group: "masters", Node: "n9", Hostname: "n9"}}
	}
	var mu sync.Mutex
	var order []string
	prepareErr := errors.New("the firmware lists no active network boot entry")
	loop := ResidentLoop{Server: client, Root: root, Interval: 20 * time.Millisecond,
		PrepareNextBoot: func(context.Context) error {
			mu.Lock()
			defer mu.Unlock()
			order = append(order, "next boot")
			err := prepareErr
			prepareErr = nil // fixed by the operator after the first try
			return err
		},
		Reinstall: func(_ context.Context, resp installplan.PlanResponse) error {
			mu.Lock()
			defer mu.Unlock()
			order = append(order, "reinstall "+resp.Archive.Digest)
			return nil
		}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan ResidentResult, 1)
	go func() {
		res, err := RunResident(ctx, loop)
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	beats := func() (n int) {
		for _, e := range mem.Events() {
			if e.Event.Phase == installplan.PhaseRunning && e.Event.Step == "heartbeat" && e.Event.InstalledDigest == digestA {
				n++
			}
		}
		return n
	}
	waitFor(t, "three heartbeats", func() bool { return beats() >= 3 && plans.get() >= 3 })
	// Install of the digest it runs: nothing happens.
	mem.SetPlan(ref, installPlan(digestA))
	n := plans.get()
	waitFor(t, "three more plans answered", func() bool { return plans.get() >= n+3 })
	mu.Lock()
	if len(order) != 0 {
		t.Fatalf("reinstalled without being told to: %v", order)
	}
	mu.Unlock()

	mem.SetPlan(ref, installPlan(digestB))
	var res ResidentResult
	select {
	case res = <-done:
	case <-ctx.Done():
		t.Fatal("the resident agent was told to reinstall and did not")
	}
	if !res.Reinstalled || res.Digest != digestB {
		t.Fatalf("result %+v", res)
	}
	if want := []string{"next boot", "next boot", "reinstall " + digestB}; strings.Join(order, "|") != strings.Join(want, "|") {
		t.Fatalf("order %v, want %v", order, want)
	}
	// After the first failed try: Running, saying why; then Rebooting once, and nothing after.
	evs := mem.Events()
	var said, rebooting int
	for i, e := range evs {
		switch {
		case e.Event.Step == "reinstall" && e.Event.Phase == installplan.PhaseRunning:
			said++
			if !strings.Contains(e.Event.Message, "cannot go back to the network: set the next boot to the network: the firmware lists no active network boot entry") {
				t.Errorf("the failure says %q", e.Event.Message)
			}
		case e.Event.Phase == installplan.PhaseRebooting:
			rebooting++
			if i != len(evs)-1 || !strings.Contains(e.Event.Message, "replaces "+digestA) {
				t.Errorf("Rebooting is event %d of %d: %+v", i, len(evs), e.Event)
			}
		}
	}
	if said != 1 || rebooting != 1 {
		t.Fatalf("%d reports of the failure, %d of Rebooting: %+v", said, rebooting, evs)
	}
}

func TestTheResidentAgentWaitsForTheAfterServicesStage(t *testing.T) {
	_, client, _ := residentServer(t)
	root := runningRoot(t, digestA)
	os.Remove(filepath.Join(root, StageDir, "after-services.done"))
	_, err := RunResident(context.Background(), ResidentLoop{Server: client, Root: root, Reinstall: func(context.Context, installplan.PlanResponse) error { return nil }})
	if err == nil || !strings.Contains(err.Error(), "the AfterServices stage has not ended") {
		t.Fatalf("got %v", err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
