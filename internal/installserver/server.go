package installserver

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sync/errgroup"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/internal/agentapi"
	"github.com/flarecast/flarecast/internal/atomicfile"
	"github.com/flarecast/flarecast/internal/dhcp"
	"github.com/flarecast/flarecast/internal/httpboot"
	"github.com/flarecast/flarecast/internal/installplan"
	"github.com/flarecast/flarecast/internal/repository"
	"github.com/flarecast/flarecast/internal/tftp"
)

// Boot loader files looked for in the iPXE directory, by the DHCP boot option they serve.
const (
	fileBIOS  = "undionly.kpxe"
	fileUEFI  = "ipxe.efi"
	fileSNP   = "snponly.efi"
	fileARM64 = "snp.efi"
	// The deploy kernel and initramfs keep these names in the boot directory, whatever
	// their paths (the UEFI script's initrd= names the initramfs).
	fileKernel    = "vmlinuz"
	fileInitramfs = "initramfs.img"
)

// Config is how one install server runs.
type Config struct {
	// Interface is the provisioning interface; Address the server's IPv4 address on it.
	Interface string
	// RouterAdvertisements sends IPv6 router advertisements that configure nothing on the
	// interface, which ends iPXE's wait for IPv6 autoconfiguration (RouterAdvertisements).
	RouterAdvertisements bool
	Address              netip.Addr
	// HTTPPort serves scripts, boot files, blobs and the agent API (default 8080); TFTPPort
	// the boot loaders (default 69).
	HTTPPort, TFTPPort int
	// NFSPort serves the roots of Diskless groups, NFSv3 and MOUNT over TCP (default 2049).
	NFSPort int
	Mode    dhcp.Mode
	// StateDir holds the lease file, the boot directory the services serve and the blob
	// cache of a registry repository.
	StateDir string
	// IPXEDir holds the boot loaders (Debian's ipxe package: /usr/lib/ipxe). They are
	// copied into the boot directory (Debian's ipxe.efi is a symlink out of its directory,
	// which TFTP and HTTP refuse to follow).
	IPXEDir string
	// Kernel and Initramfs are the deploy kernel's files; empty, the scripts name files the
	// boot directory lacks, and nodes stop at the kernel download (a warning says so).
	Kernel, Initramfs string
	KernelArgs        []string
	DNS               []netip.Addr
	Domain            string
	LeaseTime         time.Duration
	// Secret is the site secret the nodes' tokens derive from.
	Secret []byte
	Log    logr.Logger
}

// Deps are what the install server reads and writes outside itself.
type Deps struct {
	// Reader is the cache FlashArchives are read from; APIReader reads NodesGroups past it.
	Reader    client.Reader
	APIReader client.Reader
	Client    client.Client
	Recorder  recorder.EventRecorder
	Store     repository.Store
	// DeployableName is the controllers' name of a group's deployable FlashArchive.
	DeployableName func(cluster, group string) string
	// ArchiveTag is the controllers' name of a FlashArchive in the repository (a capture is
	// stored under it); nil takes namespace.name.
	ArchiveTag func(namespace, name string) string
}

// Server is one site's install server: DHCP, TFTP and HTTP on one interface.
type Server struct {
	cfg     Config
	boot    BootConfig
	bootDir string
	site    atomic.Pointer[Site]
	log     logr.Logger

	dhcp   *dhcp.Server
	leases *leaseObserver
	tftp   *tftp.Server
	http   http.Handler
	hboot  *httpboot.Handler
	Plans  *Plans
	Status *Status
	// Exports are the NFS roots of the site's Diskless groups.
	Exports *Exports
	// Captures takes the prototype nodes' uploads.
	Captures *Captures
}

// New prepares the boot directory and the services; Run serves.
func New(cfg Config, deps Deps) (*Server, error) {
	if !cfg.Address.Is4() {
		return nil, fmt.Errorf("install server: address %s is not IPv4", cfg.Address)
	}
	if len(cfg.Secret) < 16 {
		return nil, errors.New("install server: the site secret must hold at least 16 bytes")
	}
	if cfg.HTTPPort == 0 {
		cfg.HTTPPort = 8080
	}
	if cfg.TFTPPort == 0 {
		cfg.TFTPPort = 69
	}
	if cfg.NFSPort == 0 {
		cfg.NFSPort = DefaultNFSPort
	}
	s := &Server{cfg: cfg, log: cfg.Log, bootDir: filepath.Join(cfg.StateDir, "boot")}
	if err := s.prepareBootDir(); err != nil {
		return nil, err
	}
	s.site.Store(&Site{Table: &dhcp.Table{}, byName: map[string]*NodeInfo{}, Tokens: agentapi.NewTokens(cfg.Secret, nil)})
	slogger := slogOf(cfg.Log)

	var err error
	s.leases = newLeaseObserver(cfg.Log.WithName("leases"))
	s.dhcp, err = dhcp.New(dhcp.Config{Interface: cfg.Interface, ServerAddr: cfg.Address, Mode: cfg.Mode,
		LeaseFile: filepath.Join(cfg.StateDir, "leases.json"), Logger: slogger.With("service", "dhcp"), Observer: s.leases}, s.site.Load().Table)
	if err != nil {
		return nil, err
	}
	if s.tftp, err = tftp.New(tftp.Options{Dir: s.bootDir, Log: cfg.Log.WithName("tftp")}); err != nil {
		return nil, err
	}
	blobs, err := httpboot.NewRepositoryBlobs(deps.Store, filepath.Join(cfg.StateDir, "blob-cache"), cfg.Log.WithName("blobs"))
	if err != nil {
		return nil, err
	}
	s.hboot, err = httpboot.New(httpboot.Options{Scripts: httpboot.ScriptsFunc(s.script), BootDir: s.bootDir, Blobs: blobs, Log: cfg.Log.WithName("http")})
	if err != nil {
		return nil, err
	}
	s.Status = &Status{Client: deps.Client, APIReader: deps.APIReader, Recorder: deps.Recorder, Site: s.Site}
	if s.Exports, err = NewExports(cfg.StateDir, deps.Store, cfg.Log.WithName("nfs")); err != nil {
		return nil, err
	}
	s.Exports.HandleKey = nfsHandleKey(cfg.Secret)
	if deps.Recorder != nil {
		s.Exports.OnFailure = func(x DisklessExport, err error) {
			ng := &fcv1.NodesGroup{}
			ng.SetNamespace(x.Namespace)
			ng.SetName(x.Group)
			ng.SetGroupVersionKind(fcv1.GroupVersion.WithKind("NodesGroup"))
			deps.Recorder.Eventf(ng, nil, "Warning", "NFSExportFailed", "ExportRoot", "no NFS root for the group's nodes at %s: %s", x.Path(), truncate(err.Error(), 512))
		}
	}
	s.Plans = &Plans{Reader: deps.Reader, Store: deps.Store, DeployableName: deps.DeployableName, Site: s.Site,
		ServerURL: s.boot.ServerURL, Installed: s.Status.Installed, NFS: s.Exports.State, NFSServed: s.Exports.Served,
		NFSServer: s.boot.NFSServer, NFSPort: s.boot.NFSPort}
	s.Captures = newCaptures(s, deps)
	api, err := agentapi.NewHandler(agentapi.Options{Secret: cfg.Secret, Plans: s.Plans, Events: s.Status, Captures: s.Captures,
		Holder: func(tok string) (agentapi.NodeRef, bool) { return s.Site().Tokens.Holder(tok) },
		Log:    slogger.With("service", "agentapi")})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle(installplan.APIPrefix+"/", api)
	mux.Handle("/", s.hboot)
	s.http = mux
	return s, nil
}

func (s *Server) deployableName(cluster, group string) string {
	return s.Plans.DeployableName(cluster, group)
}

// Site is the snapshot in force.
func (s *Server) Site() *Site { return s.site.Load() }

// BootConfig is what the snapshots are built with.
func (s *Server) BootConfig() BootConfig { return s.boot }

// SetSite puts a new snapshot in force: the DHCP table first, which refuses one with
// problems (the old one stays), then the scripts, tokens and plans.
func (s *Server) SetSite(site *Site) error {
	if err := s.dhcp.SetTable(site.Table); err != nil {
		return err
	}
	s.site.Store(site)
	return nil
}

// Handler is the HTTP side (scripts, boot files, blobs, agent API), for tests.
func (s *Server) Handler() http.Handler { return s.http }

func (s *Server) script(_ context.Context, key string) (httpboot.Script, error) {
	n, ok := s.Site().ByName(key)
	if !ok {
		return httpboot.Script{}, httpboot.ErrUnknownNode
	}
	return n.Script, nil
}

// Run opens every socket first (a port taken fails the start, not a later request), then
// serves until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	if err := s.dhcp.Listen(); err != nil {
		return err
	}
	host := s.cfg.Address.String()
	tconn, err := net.ListenPacket("udp4", net.JoinHostPort(host, strconv.Itoa(s.cfg.TFTPPort)))
	if err != nil {
		return fmt.Errorf("tftp: listen: %w", err)
	}
	hl, err := net.Listen("tcp4", net.JoinHostPort(host, strconv.Itoa(s.cfg.HTTPPort)))
	if err != nil {
		tconn.Close()
		return fmt.Errorf("http: listen: %w", err)
	}
	hs := &http.Server{Handler: s.http, ReadHeaderTimeout: 10 * time.Second}
	s.log.Info("install server serving", "interface", s.cfg.Interface, "address", host, "mode", s.cfg.Mode.String(),
		"http", hl.Addr().String(), "tftp", tconn.LocalAddr().String(), "bootDir", s.bootDir)
	g, gctx := errgroup.WithContext(ctx)
	if s.cfg.RouterAdvertisements {
		if err := RouterAdvertisements(gctx, s.cfg.Interface, 500*time.Millisecond); err != nil {
			tconn.Close()
			hl.Close()
			return err
		}
	}
	g.Go(func() error { return s.dhcp.Serve(gctx) })
	g.Go(func() error { return s.leases.run(gctx, s.Site, s.Status) })
	g.Go(func() error { return s.tftp.Serve(gctx, tconn) })
	g.Go(func() error { return s.Exports.Run(gctx, net.JoinHostPort(host, strconv.Itoa(s.cfg.NFSPort))) })
	g.Go(func() error {
		if err := hs.Serve(hl); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return hs.Shutdown(sctx)
	})
	err = g.Wait()
	s.hboot.Close()
	return err
}

// prepareBootDir fills the boot directory the services serve: the boot loaders found in
// IPXEDir, and the deploy kernel and initramfs under fixed names. It sets s.boot.
func (s *Server) prepareBootDir() error {
	if err := os.MkdirAll(s.bootDir, 0o755); err != nil {
		return fmt.Errorf("install server: boot directory: %w", err)
	}
	c := s.cfg
	url := "http://" + net.JoinHostPort(c.Address.String(), strconv.Itoa(c.HTTPPort))
	s.boot = BootConfig{ServerURL: url, Kernel: fileKernel, Initramfs: fileInitramfs, Args: c.KernelArgs,
		DNS: c.DNS, Domain: c.Domain, LeaseTime: c.LeaseTime, NFSServer: c.Address, NFSPort: c.NFSPort}
	have := map[string]bool{}
	for _, f := range []string{fileBIOS, fileUEFI, fileSNP, fileARM64} {
		src := filepath.Join(c.IPXEDir, f)
		switch err := copyFile(src, filepath.Join(s.bootDir, f)); {
		case err == nil:
			have[f] = true
		case errors.Is(err, os.ErrNotExist):
			s.log.Info("boot loader not found: clients of its kind get an address and no boot file", "file", src)
		default:
			return fmt.Errorf("install server: %w", err)
		}
	}
	if have[fileBIOS] {
		s.boot.BIOS = fileBIOS
	}
	switch {
	case have[fileUEFI]:
		s.boot.UEFI, s.boot.HTTPBootX64 = fileUEFI, fileUEFI
	case have[fileSNP]:
		s.boot.UEFI, s.boot.HTTPBootX64 = fileSNP, fileSNP
	}
	if have[fileARM64] {
		s.boot.ARM64, s.boot.HTTPBootARM64 = fileARM64, fileARM64
	}
	for _, f := range [][2]string{{c.Kernel, fileKernel}, {c.Initramfs, fileInitramfs}} {
		if f[0] == "" {
			s.log.Info("no deploy file given: the boot scripts name it and nodes stop there", "file", f[1])
			continue
		}
		if err := copyFile(f[0], filepath.Join(s.bootDir, f[1])); err != nil {
			return fmt.Errorf("install server: deploy %s: %w", f[1], err)
		}
	}
	return nil
}

// copyFile copies src (following symlinks) to dst, replacing it whole.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file (%v)", src, err)
	}
	return atomicfile.Write(dst, 0o644, func(w io.Writer) error {
		_, err := io.Copy(w, in)
		return err
	})
}

// nfsHandleKey is the key of the read-write exports' handles, derived from the site secret:
// the same after a restart (a node's handles stay good), unknown to the nodes.
func nfsHandleKey(secret []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("flarecast nfs handle key v1"))
	return m.Sum(nil)
}
