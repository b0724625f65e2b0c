package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/flarecast/flarecast/internal/dhcp"
	"github.com/flarecast/flarecast/internal/httpboot"
	"github.com/flarecast/flarecast/internal/initramfs"
)

// bootFiles is what both kinds of server serve, at the same URLs: the node's iPXE script at
// /ipxe/node1, the kernel and initramfs under /boot/, and a file the guest's /init fetches.
type bootFiles struct {
	www    string // web root: ipxe/node1, boot/...
	tftp   string // TFTP root for dnsmasq: the iPXE binaries real firmware chains to
	hello  string // what /boot/hello.txt holds
	kernel string // host path of the deploy kernel
}

const (
	scriptPath = "/ipxe/node1"
	helloPath  = "/boot/hello.txt"
)

var (
	initOnce sync.Once
	initPath string
	initErr  error
)

// testInit builds test/e2e/testinit once per test binary, static.
func testInit(t *testing.T) string {
	t.Helper()
	initOnce.Do(func() {
		dir, err := os.MkdirTemp("", "fc-e2e-init-")
		addBuildDir(dir)
		if err != nil {
			initErr = err
			return
		}
		initPath = filepath.Join(dir, "init")
		cmd := exec.Command("go", "build", "-trimpath", "-o", initPath, "./testinit")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			initErr = errors.New("build testinit: " + err.Error() + ": " + string(out))
		}
	})
	if initErr != nil {
		t.Fatal(initErr)
	}
	return initPath
}

// newBootFiles builds the initramfs (flarecast's builder, default contents, testinit as
// /init) and lays out both roots in dir.
func newBootFiles(t *testing.T, dir string) *bootFiles {
	t.Helper()
	return layoutBootFiles(t, dir, initramfs.Spec{Init: testInit(t)})
}

func layoutBootFiles(t *testing.T, dir string, spec initramfs.Spec) *bootFiles {
	t.Helper()
	b := &bootFiles{www: filepath.Join(dir, "www"), tftp: filepath.Join(dir, "tftp")}
	for _, d := range []string{filepath.Join(b.www, "boot"), filepath.Join(b.www, "ipxe"), b.tftp} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	img, err := initramfs.Build(spec, filepath.Join(dir, "cache"))
	if err != nil {
		t.Fatal(err)
	}
	b.kernel = "/boot/vmlinuz-" + img.KernelVersion
	copyFile(t, b.kernel, filepath.Join(b.www, "boot", "vmlinuz"))
	copyFile(t, img.Path, filepath.Join(b.www, "boot", "initramfs.img"))
	for _, f := range []string{"undionly.kpxe", "ipxe.efi"} {
		copyFile(t, filepath.Join("/usr/lib/ipxe", f), filepath.Join(b.tftp, f))
	}
	rnd := make([]byte, 8)
	rand.Read(rnd)
	b.hello = "flarecast-e2e-hello-" + hex.EncodeToString(rnd)
	if err := os.WriteFile(filepath.Join(b.www, helloPath), []byte(b.hello+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

// script is the node's iPXE script, the same for both servers: flarecast's renderer.
func (b *bootFiles) script(t *testing.T, uefi bool) httpboot.Script {
	return httpboot.Script{
		Node: "node1", Token: "e2e-not-a-secret", ServerURL: serverURL,
		Kernel: "vmlinuz", Initramfs: "initramfs.img", UEFI: uefi,
		Args: []string{"console=ttyS0,115200n8", "quiet", "flarecast.e2e.url=" + serverURL + helloPath},
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src) // follows symlinks: /usr/lib/ipxe/ipxe.efi is one
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// serveHTTP serves h on the server's address inside the lab until the test ends, noting when
// each path was first asked for and first answered in full (the same for both servers).
func (l *lab) serveHTTP(h http.Handler) {
	ln := l.listen(net.JoinHostPort(serverIP, httpPort))
	srv := &http.Server{Handler: l.stamps.wrap(h), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	l.t.Cleanup(func() { srv.Close() })
}

// startDnsmasq is the baseline a user would pick: dnsmasq for DHCP (a static lease for the
// node, the script URL to iPXE, undionly.kpxe over TFTP to plain PXE) and a static HTTP
// server (Go's file server) for the script and the boot files.
func (l *lab) startDnsmasq(b *bootFiles, uefi bool) *proc {
	l.t.Helper()
	s, err := b.script(l.t, uefi).Render()
	if err != nil {
		l.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.www, scriptPath), s, 0o644); err != nil {
		l.t.Fatal(err)
	}
	l.serveHTTP(http.FileServer(http.Dir(b.www)))
	args := []string{"dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--port=0",
		"--user=root", "--pid-file=", "--log-facility=-", "--log-dhcp",
		"--interface=" + bridge, "--bind-interfaces", "--except-interface=lo",
		"--dhcp-leasefile=" + filepath.Join(l.dir, "dnsmasq.leases"),
		"--dhcp-range=198.18.0.100,198.18.0.200,255.255.255.0,1h",
		"--dhcp-host=" + nodeMAC + "," + nodeIP + ",node1",
		"--dhcp-userclass=set:ipxe,iPXE", "--dhcp-match=set:ipxe,175",
		"--dhcp-boot=tag:ipxe," + serverURL + scriptPath,
		"--dhcp-boot=tag:!ipxe,undionly.kpxe",
		"--enable-tftp", "--tftp-root=" + b.tftp}
	// FLARECAST_DNSMASQ_ARGS adds options (white-space separated) to try a tuned baseline.
	args = append(args, strings.Fields(os.Getenv("FLARECAST_DNSMASQ_ARGS"))...)
	p := l.start("dnsmasq", args...)
	l.ackLog = p.log
	return p
}

// ackPath is the stamps key of the first DHCP ACK the node got (iPXE's).
const ackPath = "dhcp:ack"

// ackObserver notes flarecast's first DHCP ACK; for dnsmasq, boot watches its log instead.
type ackObserver struct{ s *stamps }

func (o ackObserver) Bound(dhcp.Binding) {}
func (o ackObserver) Leased(dhcp.Lease)  { o.s.note(&o.s.answered, ackPath) }

// startFlarecast serves the same node with flarecast's own services, as the install server
// runs them: internal/dhcp with the node's static lease, internal/httpboot with its script
// and the boot directory.
func (l *lab) startFlarecast(b *bootFiles, uefi bool) {
	l.t.Helper()
	l.startFlarecastWith(b, b.script(l.t, uefi), nil)
}

// startFlarecastWith serves script for node1; wrap, when set, puts more routes (the agent
// API) around the boot handler.
func (l *lab) startFlarecastWith(b *bootFiles, script httpboot.Script, wrap func(http.Handler) http.Handler) {
	l.t.Helper()
	logf, err := os.Create(filepath.Join(l.dir, "flarecast.log"))
	if err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(func() { logf.Close() })
	slogger := slog.New(slog.NewTextHandler(logf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	mac, _ := net.ParseMAC(nodeMAC)
	table := &dhcp.Table{Nodes: []dhcp.Node{{
		Name: "node1", MACs: []net.HardwareAddr{mac}, Address: netip.MustParsePrefix(nodeIP + "/24"),
		Hostname: "node1",
		Boot:     dhcp.Boot{IPXEScript: serverURL + scriptPath, BIOS: "undionly.kpxe", UEFI: "ipxe.efi"},
	}}}
	srv, err := dhcp.New(dhcp.Config{Interface: bridge, ServerAddr: netip.MustParseAddr(serverIP), Mode: l.dhcpMode,
		LeaseFile: filepath.Join(l.dir, "flarecast.leases"), Logger: slogger, Observer: ackObserver{&l.stamps}}, table)
	if err != nil {
		l.t.Fatal(err)
	}
	if err := l.ns.InNetns(srv.Listen); err != nil {
		l.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	l.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			l.t.Errorf("dhcp serve: %v", err)
		}
	})
	h, err := httpboot.New(httpboot.Options{
		Scripts: httpboot.ScriptsFunc(func(_ context.Context, key string) (httpboot.Script, error) {
			if key != "node1" {
				return httpboot.Script{}, httpboot.ErrUnknownNode
			}
			return script, nil
		}),
		BootDir: filepath.Join(b.www, "boot"),
		Log:     logr.FromSlogHandler(slogger.Handler()),
	})
	if err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(func() { h.Close() })
	if wrap != nil {
		l.serveHTTP(wrap(h))
		return
	}
	l.serveHTTP(h)
}

// stamps records, per path, when a request first came and when one was first answered.
type stamps struct {
	mu        sync.Mutex
	requested map[string]time.Time
	answered  map[string]time.Time
}

func (s *stamps) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.note(&s.requested, r.URL.Path)
		h.ServeHTTP(w, r)
		s.note(&s.answered, r.URL.Path)
	})
}

func (s *stamps) note(m *map[string]time.Time, p string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if *m == nil {
		*m = map[string]time.Time{}
	}
	if _, ok := (*m)[p]; !ok {
		(*m)[p] = time.Now()
	}
}

func (s *stamps) get(m map[string]time.Time, p string) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return m[p]
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return strings.ToValidUTF8(string(b), "?")
}
