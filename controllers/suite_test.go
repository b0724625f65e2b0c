package controllers_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	uzap "go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/flarecast/flarecast/controllers"
	"github.com/flarecast/flarecast/internal/cli"
)

// k8s is a client of the real API server the suite starts; the manager runs beside it.
var (
	k8s client.Client
	cfg *rest.Config
	// testEnv is the running control plane: a test adds users to it (restricted by RBAC).
	testEnv *envtest.Environment
	timeout = 60 * time.Second
)

func TestMain(m *testing.M) {
	if os.Getenv(asCLI) != "" {
		// The local executor runs builds as `<this binary> archive build …`: be flarecast.
		os.Exit(runCLI(os.Args[1:]))
	}
	// A temporary directory of the suite's own, inherited by the builds it runs: the tests
	// that check nothing is left in it must not see other programs' files in the shared /tmp.
	tmp, err := os.MkdirTemp("", "flarecast-controllers-tmp-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("TMPDIR", tmp)
	code := run(m)
	os.RemoveAll(archivesBase)
	os.RemoveAll(tmp)
	os.Exit(code)
}

func run(m *testing.M) int {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		fmt.Fprintln(os.Stderr, "KUBEBUILDER_ASSETS is not set: run `make test`, which builds kube-apiserver and etcd into bin/k8s (hack/envtest-assets.sh)")
		return 1
	}
	logf.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.UseDevMode(true), zap.Level(zapLevel()),
		zap.RawZapOpts(uzap.WrapCore(func(c zapcore.Core) zapcore.Core { return zapcore.NewTee(c, managerLog.core()) }))))
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	testEnv = env
	var err error
	cfg, err = env.Start()
	if err != nil {
		// Start may fail after launching etcd and the API server (a CRD refused): stop them.
		_ = env.Stop()
		fmt.Fprintln(os.Stderr, "start envtest:", err)
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop envtest:", err)
		}
	}()
	k8s, err = client.New(cfg, client.Options{Scheme: cli.Scheme()})
	if err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		return 1
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: cli.Scheme(), Metrics: metricsserver.Options{BindAddress: "0"}, Cache: mainCache()})
	if err != nil {
		fmt.Fprintln(os.Stderr, "manager:", err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := controllers.Setup(ctx, mgr, archiveOptions()); err != nil {
		fmt.Fprintln(os.Stderr, "setup:", err)
		return 1
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	code := m.Run()
	cancel()
	if err := <-done; err != nil {
		fmt.Fprintln(os.Stderr, "manager:", err)
		return 1
	}
	return code
}

func zapLevel() zapcore.Level {
	if os.Getenv("FLARECAST_TEST_VERBOSE") != "" {
		return -1
	}
	return 2 // errors only: the suite's own output is what matters
}

// eventually polls check until it returns nil or the timeout passes, then fails with the
// last error, which says what was seen.
func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = check(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: not reached after %s: %v", what, timeout, err)
}

// wantCondition checks that conds hold a condition of type typ with the status, reason and
// message substring given ("" matches any), describing the object's current generation.
func wantCondition(obj client.Object, conds []metav1.Condition, typ string, status metav1.ConditionStatus, reason, contains string) error {
	c := meta.FindStatusCondition(conds, typ)
	switch {
	case c == nil:
		return fmt.Errorf("%s %s: no %s condition yet", obj.GetObjectKind().GroupVersionKind().Kind, obj.GetName(), typ)
	case c.ObservedGeneration != obj.GetGeneration():
		return fmt.Errorf("%s condition describes generation %d, object is at %d", typ, c.ObservedGeneration, obj.GetGeneration())
	case c.Status != status:
		return fmt.Errorf("%s=%s (%s: %s), want %s", typ, c.Status, c.Reason, c.Message, status)
	case reason != "" && c.Reason != reason:
		return fmt.Errorf("%s reason %s (%s), want %s", typ, c.Reason, c.Message, reason)
	case contains != "" && !strings.Contains(c.Message, contains):
		return fmt.Errorf("%s message %q does not contain %q", typ, c.Message, contains)
	}
	return nil
}
