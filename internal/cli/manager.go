package cli

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.uber.org/zap/zapcore"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/controllers"
	"github.com/flarecast/flarecast/internal/executor"
	"github.com/flarecast/flarecast/internal/executor/build"
	"github.com/flarecast/flarecast/internal/version"
)

type managerOptions struct {
	kubeconfig     string
	metricsAddr    string
	probeAddr      string
	leaderElect    bool
	leaderElectNS  string
	namespace      string
	logDevelopment bool
	logLevel       int
	archives       archiveBuildOptions
}

// archiveBuildOptions are the manager's flags for FlashArchives: where archives are stored
// and what builds them.
type archiveBuildOptions struct {
	repo, executor, stateDir       string
	concurrency                    int
	jobImage, jobClaim, jobAccount string
	jobBuildImage, jobBuildPod     string
	progressAddr, progressURL      string
	isImage, isKernel, isInitramfs string
	inputsKeySecret                string
	limits                         build.Limits
	maxSize                        string
}

func newManagerCommand() *cobra.Command {
	o := managerOptions{}
	cmd := &cobra.Command{
		Use:   "manager",
		Short: "Run the flarecast controllers against a Kubernetes API server",
		Long: `Run the flarecast controllers: they resolve each Cluster's model (Machine, Network,
NodesGroups) and record in status conditions what is complete, valid and missing; they build
FlashArchives into the repository (--repo) through an executor (--executor), and make each
NodesGroup's deployable archive once its cluster's model is complete.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return runManager(cmd, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file (default: in-cluster, then $KUBECONFIG, then ~/.kube/config)")
	f.StringVar(&o.metricsAddr, "metrics-bind-address", ":8080", "address of the Prometheus metrics endpoint; 0 disables it")
	f.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081", "address of the /healthz and /readyz endpoints")
	f.BoolVar(&o.leaderElect, "leader-elect", false, "elect a leader, so several replicas can run with one active")
	f.StringVar(&o.leaderElectNS, "leader-election-namespace", "", "namespace of the leader-election lease (default: the pod's)")
	f.StringVar(&o.namespace, "namespace", "", "watch only this namespace (default: all)")
	f.BoolVar(&o.logDevelopment, "log-development", false, "human-readable logs instead of JSON")
	f.IntVar(&o.logLevel, "v", 0, "log verbosity (1 shows every resolution)")
	repo := os.Getenv("FLARECAST_REPO")
	if repo == "" {
		repo = DefaultRepo
	}
	f.StringVar(&o.archives.repo, "repo", repo, "archive repository: a directory or oci://host[:port]/repository ($FLARECAST_REPO sets the default)")
	f.StringVar(&o.archives.executor, "executor", controllers.ExecutorLocal, "what runs archive builds: local (subprocesses of the manager) or job (a Kubernetes Job per build)")
	f.StringVar(&o.archives.stateDir, "executor-state-dir", "./flarecast-builds", "local executor: where each build's request, state and log are kept")
	f.IntVar(&o.archives.concurrency, "executor-concurrency", executor.DefaultConcurrency, "local executor: builds running at once")
	f.StringVar(&o.archives.jobImage, "job-image", "ghcr.io/flarecast/flarecast:"+version.Version, "job executor: the image whose /flarecast runs the builds (flarecast archive build)")
	f.StringVar(&o.archives.jobBuildImage, "job-build-image", "ghcr.io/flarecast/flarecast-builder:"+version.Version, "job executor: the image that runs build sources (the Dockerfile's builder stage: /flarecast with mmdebstrap, apt, dpkg, unshare, chroot, mount)")
	f.StringVar(&o.archives.jobBuildPod, "job-build-pod", string(executor.BuildPodUserNamespace), "job executor: how a build source's pod gets what its build root needs: userns (root of a user namespace of its own, hostUsers: false) or privileged (a privileged container: root on the node); see docs/security.md")
	f.StringVar(&o.archives.jobClaim, "job-repository-claim", "", "job executor: PersistentVolumeClaim holding the repository directory, mounted in build pods at --repo")
	f.StringVar(&o.archives.jobAccount, "job-service-account", "", "job executor: service account of the build pods")
	f.StringVar(&o.archives.progressAddr, "build-progress-bind-address", ":8082", "job executor: where the manager listens for the progress build pods report")
	f.StringVar(&o.archives.progressURL, "build-progress-url", "", "job executor: the URL at which build pods reach --build-progress-bind-address (a Service of the manager); empty: builds in Jobs report no progress")
	f.StringVar(&o.archives.isImage, "installserver-image", "", "Pod-mode install servers: the image whose /flarecast runs them (default: --job-image)")
	f.StringVar(&o.archives.isKernel, "installserver-kernel", "", "Pod-mode install servers: the deploy kernel's path in that image")
	f.StringVar(&o.archives.isInitramfs, "installserver-initramfs", "", "Pod-mode install servers: the deploy initramfs's path in that image")
	addBuildLimitFlags(f, &o.archives)
	return cmd
}

// addBuildLimitFlags adds the flags that bound what a namespace's FlashArchives can make the
// manager fetch, for how long and how much (see docs/security.md).
func addBuildLimitFlags(f *pflag.FlagSet, a *archiveBuildOptions) {
	ns := cmp.Or(os.Getenv("POD_NAMESPACE"), "default")
	f.StringVar(&a.inputsKeySecret, "inputs-key-secret", ns+"/"+controllers.DefaultInputsKeySecret,
		"NAMESPACE/NAME of the Secret holding the key of the inputs digest (made on first start; every manager of an installation must use the same)")
	f.StringArrayVar(&a.limits.AllowFileSources, "allow-file-source", nil,
		"a directory file:// rootfs sources may be read from (repeatable); none: file:// is refused")
	f.StringArrayVar(&a.limits.AllowHosts, "allow-source-host", nil,
		"a host (or host:port) http(s) rootfs sources may be fetched from (repeatable); none: any host")
	f.BoolVar(&a.limits.AllowBuildSources, "allow-build-sources", false,
		"run FlashArchives' source.build: their packages' maintainer scripts run as root in a chroot of the build host, which is no sandbox (docs/security.md); off: refused with SourceNotAllowed")
	d := build.DefaultLimits
	f.DurationVar(&a.limits.ConnectTimeout, "source-connect-timeout", d.ConnectTimeout, "default bound of connecting to a source's server (spec.limits.connectTimeout)")
	f.DurationVar(&a.limits.FirstByteTimeout, "source-first-byte-timeout", d.FirstByteTimeout, "default bound of the wait for a source's response headers (spec.limits.firstByteTimeout)")
	f.DurationVar(&a.limits.IdleTimeout, "source-idle-timeout", d.IdleTimeout, "default bound of a pause in a source's body (spec.limits.idleTimeout)")
	f.DurationVar(&a.limits.DownloadTimeout, "source-download-timeout", d.DownloadTimeout, "default bound of a whole download (spec.limits.downloadTimeout)")
	f.DurationVar(&a.limits.BuildTimeout, "build-timeout", d.BuildTimeout, "default bound of a whole build (spec.limits.buildTimeout)")
	f.StringVar(&a.maxSize, "max-source-size", resource.NewQuantity(d.MaxSize, resource.BinarySI).String(),
		"default bound of a source's size, fetched and unpacked (spec.limits.maxSize)")
}

// Scheme returns the scheme the manager and the tests use: core kinds and flarecast's.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(fcv1.AddToScheme(s))
	return s
}

func runManager(cmd *cobra.Command, o managerOptions) error {
	ctrl.SetLogger(zap.New(zap.UseDevMode(o.logDevelopment), zap.Level(zapcore.Level(-o.logLevel)), zap.WriteTo(cmd.ErrOrStderr())))
	log := ctrl.Log.WithName("manager")

	cfg, err := restConfig(o.kubeconfig)
	if err != nil {
		return err
	}
	opts := ctrl.Options{
		Scheme:                  Scheme(),
		Metrics:                 metricsserver.Options{BindAddress: o.metricsAddr},
		HealthProbeBindAddress:  o.probeAddr,
		LeaderElection:          o.leaderElect,
		LeaderElectionID:        "flarecast-manager.flarecast.io",
		LeaderElectionNamespace: o.leaderElectNS,
	}
	if o.namespace != "" {
		opts.Cache.DefaultNamespaces = map[string]cache.Config{o.namespace: {}}
	}
	mgr, err := ctrl.NewManager(cfg, opts)
	if err != nil {
		return fmt.Errorf("create manager: %w", err)
	}
	ctx := ctrl.SetupSignalHandler()
	archives, err := o.archives.controllerOptions()
	if err != nil {
		return err
	}
	if err := controllers.Setup(ctx, mgr, archives); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return fmt.Errorf("add health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return fmt.Errorf("add readiness check: %w", err)
	}
	log.Info("starting", "version", version.String(), "host", cfg.Host)
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("manager stopped: %w", err)
	}
	log.Info("stopped")
	return nil
}

func (a archiveBuildOptions) controllerOptions() (controllers.ArchiveOptions, error) {
	o := controllers.ArchiveOptions{
		Repository: a.repo,
		Executor:   a.executor,
		Local:      executor.LocalOptions{Dir: a.stateDir, Concurrency: a.concurrency},
		Job: executor.JobOptions{Image: a.jobImage, BuildImage: a.jobBuildImage, BuildPod: executor.BuildPod(a.jobBuildPod),
			RepositoryClaim: a.jobClaim, RepositoryPath: a.repo,
			ServiceAccount: a.jobAccount, ProgressURL: a.progressURL},
		ProgressAddress: a.progressAddr,
		InstallServers:  controllers.InstallServerOptions{Image: a.isImage, Kernel: a.isKernel, Initramfs: a.isInitramfs},
		Limits:          a.limits,
	}
	ns, name, ok := strings.Cut(a.inputsKeySecret, "/")
	if !ok || ns == "" || name == "" {
		return o, usageError(fmt.Errorf("--inputs-key-secret %q: want NAMESPACE/NAME", a.inputsKeySecret))
	}
	o.InputsKeySecret = types.NamespacedName{Namespace: ns, Name: name}
	q, err := resource.ParseQuantity(a.maxSize)
	if err != nil || q.Value() <= 0 {
		return o, usageError(fmt.Errorf("--max-source-size %q: want a positive size such as 32Gi", a.maxSize))
	}
	o.Limits.MaxSize = q.Value()
	for i, d := range o.Limits.AllowFileSources {
		// A relative directory would mean another one for each build's working directory.
		abs, err := filepath.Abs(d)
		if err != nil {
			return o, usageError(fmt.Errorf("--allow-file-source %q: %w", d, err))
		}
		o.Limits.AllowFileSources[i] = abs
	}
	return o, nil
}

func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" {
		cfg, err := ctrl.GetConfig()
		if err != nil {
			return nil, fmt.Errorf("find the API server: %w (pass --kubeconfig or set KUBECONFIG)", err)
		}
		return cfg, nil
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("read kubeconfig %s: %w", kubeconfig, err)
	}
	return cfg, nil
}
