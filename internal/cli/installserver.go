package cli

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"go.uber.org/zap/zapcore"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/flarecast/flarecast/controllers"
	"github.com/flarecast/flarecast/internal/dhcp"
	"github.com/flarecast/flarecast/internal/initramfs"
	"github.com/flarecast/flarecast/internal/installserver"
	"github.com/flarecast/flarecast/internal/modelsource"
	"github.com/flarecast/flarecast/internal/version"
)

type installServerOptions struct {
	kubeconfig, namespace, site string
	iface, address              string
	repo, bootDir, stateDir     string
	kernel, initramfs, agent    string
	kernelArgs, dns             []string
	domain                      string
	leaseTime                   time.Duration
	httpPort, tftpPort, nfsPort int
	proxyDHCP, ra               bool
	secretName, secretFile      string
	metricsAddr, probeAddr      string
	logDevelopment              bool
	logLevel                    int
}

func newInstallServerCommand() *cobra.Command {
	o := installServerOptions{}
	cmd := &cobra.Command{
		Use:   "installserver",
		Short: "Serve the nodes of one site: DHCP, TFTP, HTTP boot and the agent API (Local mode)",
		Long: `Serve the nodes of one site (the Clusters of a namespace whose spec.installServer.site
names it) on one interface: DHCP static leases from the resolved model (or proxyDHCP beside the
site's own DHCP server), the iPXE boot loaders over TFTP, and over HTTP each node's iPXE script,
the deploy kernel and initramfs, the archives' blobs from the repository, and the agent API
(install plans, progress reports written to NodesGroup status). The root of each Diskless
group is its deployable's verified extraction, exported read-only over NFSv3 (TCP, NFS and
MOUNT on --nfs-port) at /flarecast/<namespace>/<group>. A MAC or switch port the model
does not name gets no answer. The table follows every change of the model.

The site secret, from which each node's token is derived, is read from a Secret of the
namespace (--secret, made with 32 random bytes when absent) or from a file (--secret-file).`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return runInstallServer(cmd, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file (default: in-cluster, then $KUBECONFIG, then ~/.kube/config)")
	f.StringVar(&o.namespace, "namespace", "default", "namespace of the site's Clusters")
	f.StringVar(&o.site, "site", "", "the site served: Clusters whose spec.installServer.site names it (required)")
	f.StringVar(&o.iface, "interface", "", "the provisioning interface the services are bound to (required)")
	f.StringVar(&o.address, "address", "", "this server's IPv4 address on that interface (default: the interface's one IPv4 address)")
	repo := os.Getenv("FLARECAST_REPO")
	if repo == "" {
		repo = DefaultRepo
	}
	f.StringVar(&o.repo, "repo", repo, "archive repository the deployables are read from: a directory or oci://host[:port]/repository ($FLARECAST_REPO sets the default)")
	f.StringVar(&o.bootDir, "boot-dir", "/usr/lib/ipxe", "directory of the iPXE boot loaders (undionly.kpxe, ipxe.efi, snponly.efi, snp.efi)")
	f.StringVar(&o.kernel, "kernel", "", "the deploy kernel the nodes boot (served as /boot/vmlinuz)")
	f.StringVar(&o.initramfs, "initramfs", "", "the deploy initramfs with the agent as /init (served as /boot/initramfs.img)")
	f.StringVar(&o.agent, "agent", "", "build the deploy initramfs here (unless --initramfs names one): this flarecast-agent binary as /init, with busybox, the modules of --kernel's version and the disk tools; cached under --state-dir by the digest of its inputs")
	f.StringArrayVar(&o.kernelArgs, "kernel-arg", []string{"console=ttyS0,115200n8"}, "a kernel argument of every node's boot script (repeatable)")
	f.StringVar(&o.stateDir, "state-dir", "./flarecast-installserver", "where the lease file, the served boot directory and the blob cache are kept")
	f.IntVar(&o.httpPort, "http-port", 8080, "port of the HTTP service (scripts, boot files, blobs, agent API)")
	f.IntVar(&o.tftpPort, "tftp-port", 69, "port of the TFTP service")
	f.IntVar(&o.nfsPort, "nfs-port", installserver.DefaultNFSPort, "TCP port of the NFS service (NFSv3 and MOUNT) serving the roots of Diskless groups")
	f.BoolVar(&o.ra, "ipv6-router-advertisements", false, "send IPv6 router advertisements that configure nothing (no prefix, no route) on the interface: iPXE then skips its ~16 s wait for IPv6 autoconfiguration; for a provisioning network with no IPv6 router of its own")
	f.BoolVar(&o.proxyDHCP, "proxy-dhcp", false, "proxyDHCP mode: boot options only, beside the site's own DHCP server (ports 67 and 4011)")
	f.StringArrayVar(&o.dns, "dns", nil, "a DNS server handed to every node (repeatable)")
	f.StringVar(&o.domain, "domain", "", "the DNS domain handed to every node")
	f.DurationVar(&o.leaseTime, "lease-time", dhcp.DefaultLeaseTime, "DHCP lease time")
	f.StringVar(&o.secretName, "secret", "", "Secret of the namespace holding the site secret under key \"secret\" (default flarecast-site-<site>; made when absent)")
	f.StringVar(&o.secretFile, "secret-file", "", "read the site secret from this file instead of a Secret")
	f.StringVar(&o.metricsAddr, "metrics-bind-address", "0", "address of the Prometheus metrics endpoint; 0 disables it")
	f.StringVar(&o.probeAddr, "health-probe-bind-address", "0", "address of the /healthz and /readyz endpoints; 0 disables them")
	f.BoolVar(&o.logDevelopment, "log-development", false, "human-readable logs instead of JSON")
	f.IntVar(&o.logLevel, "v", 0, "log verbosity (1 shows each boot file and blob served, DHCP refusals)")
	return cmd
}

func (o *installServerOptions) check() (netip.Addr, []netip.Addr, error) {
	for _, req := range [][2]string{{"--site", o.site}, {"--interface", o.iface}} {
		if req[1] == "" {
			return netip.Addr{}, nil, usageError(fmt.Errorf("%s is required", req[0]))
		}
	}
	var addr netip.Addr
	if o.address == "" {
		a, err := interfaceAddress(o.iface)
		if err != nil {
			return netip.Addr{}, nil, err
		}
		addr = a
	} else if a, err := netip.ParseAddr(o.address); err != nil || !a.Is4() {
		return netip.Addr{}, nil, usageError(fmt.Errorf("--address %q: want this server's IPv4 address on %s", o.address, o.iface))
	} else {
		addr = a
	}
	var dns []netip.Addr
	for _, d := range o.dns {
		a, err := netip.ParseAddr(d)
		if err != nil || !a.Is4() {
			return netip.Addr{}, nil, usageError(fmt.Errorf("--dns %q: want an IPv4 address", d))
		}
		dns = append(dns, a)
	}
	if o.nfsPort < 1 || o.nfsPort > 65535 {
		return netip.Addr{}, nil, usageError(fmt.Errorf("--nfs-port %d: want a TCP port, 1 to 65535", o.nfsPort))
	}
	if o.secretName != "" && o.secretFile != "" {
		return netip.Addr{}, nil, usageError(fmt.Errorf("--secret and --secret-file: give one"))
	}
	return addr, dns, nil
}

func runInstallServer(cmd *cobra.Command, o installServerOptions) error {
	addr, dns, err := o.check()
	if err != nil {
		return err
	}
	ctrl.SetLogger(zap.New(zap.UseDevMode(o.logDevelopment), zap.Level(zapcore.Level(-o.logLevel)), zap.WriteTo(cmd.ErrOrStderr())))
	log := ctrl.Log.WithName("installserver")
	cfg, err := restConfig(o.kubeconfig)
	if err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 Scheme(),
		Metrics:                metricsserver.Options{BindAddress: o.metricsAddr},
		HealthProbeBindAddress: o.probeAddr,
		// The site's Clusters live in one namespace; nothing else is watched.
		Cache: cache.Options{DefaultNamespaces: map[string]cache.Config{o.namespace: {}}},
	})
	if err != nil {
		return fmt.Errorf("create the install server's manager: %w", err)
	}
	ctx := ctrl.SetupSignalHandler()
	if err := modelsource.IndexFields(ctx, mgr.GetFieldIndexer()); err != nil {
		return err
	}
	secret, err := o.siteSecret(ctx, mgr)
	if err != nil {
		return err
	}
	if err := mustExist(o.repo); err != nil {
		return err
	}
	store, err := openStore(ctx, o.repo)
	if err != nil {
		return err
	}
	initrd, err := o.deployInitramfs(log)
	if err != nil {
		return err
	}
	mode := dhcp.ModeServer
	if o.proxyDHCP {
		mode = dhcp.ModeProxy
	}
	srv, err := installserver.New(installserver.Config{
		Interface: o.iface, RouterAdvertisements: o.ra, Address: addr, HTTPPort: o.httpPort, TFTPPort: o.tftpPort, NFSPort: o.nfsPort, Mode: mode,
		StateDir: o.stateDir, IPXEDir: o.bootDir, Kernel: o.kernel, Initramfs: initrd, KernelArgs: o.kernelArgs,
		DNS: dns, Domain: o.domain, LeaseTime: o.leaseTime, Secret: secret, Log: log,
	}, installserver.Deps{
		Reader: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Client: mgr.GetClient(),
		Recorder: mgr.GetEventRecorder(installserver.FieldOwner), Store: store, DeployableName: controllers.DeployableName,
		ArchiveTag: controllers.ArchiveTag,
	})
	if err != nil {
		return err
	}
	c := &installserver.Controller{Reader: mgr.GetClient(), Models: modelsource.New(mgr.GetClient()), Namespace: o.namespace, SiteName: o.site, Server: srv}
	if err := c.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("set up the site controller: %w", err)
	}
	if err := mgr.Add(manager.RunnableFunc(srv.Run)); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return fmt.Errorf("add health check: %w", err)
	}
	log.Info("starting", "version", version.String(), "host", cfg.Host, "site", o.site, "namespace", o.namespace)
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("install server stopped: %w", err)
	}
	log.Info("stopped")
	return nil
}

// siteSecret reads the site secret: a file, or a Secret of the namespace made when absent.
func (o *installServerOptions) siteSecret(ctx context.Context, mgr ctrl.Manager) ([]byte, error) {
	if o.secretFile != "" {
		b, err := os.ReadFile(o.secretFile)
		if err != nil {
			return nil, fmt.Errorf("--secret-file: %w", err)
		}
		if len(b) < 16 {
			return nil, fmt.Errorf("--secret-file %s: %d bytes, want at least 16 random bytes", o.secretFile, len(b))
		}
		return b, nil
	}
	name := o.secretName
	if name == "" {
		name = installserver.DefaultSecretName(o.site)
	}
	// The manager's client writes straight to the API server; its reads would go through a
	// cache of every Secret of the namespace, so the one Secret is read past it.
	return installserver.SiteSecret(ctx, mgr.GetClient(), mgr.GetAPIReader(), types.NamespacedName{Namespace: o.namespace, Name: name})
}

// interfaceAddress is the one IPv4 address of an interface: the server's, when --address is
// not given. None, or several, is an error that asks for --address.
func interfaceAddress(name string) (netip.Addr, error) {
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		return netip.Addr{}, usageError(fmt.Errorf("--interface %s: %w", name, err))
	}
	addrs, err := ifc.Addrs()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("--interface %s: %w", name, err)
	}
	var found []netip.Addr
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is4() {
			found = append(found, p.Addr())
		}
	}
	if len(found) != 1 {
		return netip.Addr{}, usageError(fmt.Errorf("--interface %s has %d IPv4 addresses (%v): give the server's with --address", name, len(found), found))
	}
	return found[0], nil
}

// deployInitramfs is --initramfs, or the image built from --agent (internal/initramfs,
// cached by the digest of its inputs: a restart with the same agent and kernel builds
// nothing).
func (o *installServerOptions) deployInitramfs(log logr.Logger) (string, error) {
	if o.initramfs != "" || o.agent == "" {
		return o.initramfs, nil
	}
	spec := initramfs.Spec{Init: o.agent}
	if v, ok := strings.CutPrefix(filepath.Base(o.kernel), "vmlinuz-"); ok {
		// Debian's /boot/vmlinuz-6.1.0-57-amd64: its modules are /lib/modules/6.1.0-57-amd64.
		spec.KernelVersion = v
	}
	r, err := initramfs.Build(spec, filepath.Join(o.stateDir, "initramfs"))
	if err != nil {
		return "", fmt.Errorf("--agent: build the deploy initramfs: %w", err)
	}
	log.Info("deploy initramfs", "path", r.Path, "size", r.Size, "kernel", r.KernelVersion, "modules", len(r.Modules), "cached", r.Cached)
	return r.Path, nil
}
