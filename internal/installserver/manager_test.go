package installserver_test

import (
	"context"
	"io"
	"net"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/flarecast/flarecast/controllers"
	"github.com/flarecast/flarecast/internal/cli"
	"github.com/flarecast/flarecast/internal/installserver"
	"github.com/flarecast/flarecast/internal/modelsource"
	"github.com/flarecast/flarecast/internal/repository"
)

// testServer is an install server a test runs in its own process: the model side in a
// manager against the suite's API server (the site controller, and the manager's reconcilers
// the test asks for), the HTTP side on a listener of its own. The network services are the
// netns tests', which run the real command.
type testServer struct {
	*installserver.Server
	// URL is where the HTTP side answers.
	URL string
	// Cached is the manager's cached client, for a reconciler the test drives itself.
	Cached client.Client
}

// serverSetup is what startServer runs, and where.
type serverSetup struct {
	store repository.Store
	// groups and clusters run the manager's own NodesGroup and Cluster reconcilers beside
	// the site controller (a test that writes a Cluster's rollout by hand runs no Cluster
	// reconciler, which would undo it).
	groups, clusters bool
	// serves is a node of the model the site snapshot serves before startServer returns.
	serves string
	// listener is where the HTTP side listens (a free port on 127.0.0.1 when nil). address
	// and port are the install server's, which the section URLs it hands out name: the
	// listener's unless set.
	listener net.Listener
	address  netip.Addr
	port     int
}

// startServer runs an install server for namespace ns until the test ends.
func startServer(t *testing.T, ns string, s serverSetup) *testServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: cli.Scheme(), Metrics: metricsserver.Options{BindAddress: "0"},
		Cache:      cache.Options{DefaultNamespaces: map[string]cache.Config{ns: {}}},
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
		Logger:     zap.New(zap.WriteTo(io.Discard)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := controllers.SetupIndexes(ctx, mgr); err != nil {
		t.Fatal(err)
	}
	if err := controllers.SetupArchiveIndexes(ctx, mgr); err != nil {
		t.Fatal(err)
	}
	l := s.listener
	if l == nil {
		if l, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	addr := l.Addr().(*net.TCPAddr)
	if !s.address.IsValid() {
		s.address = addr.AddrPort().Addr().Unmap()
	}
	if s.port == 0 {
		s.port = addr.Port
	}
	srv, err := installserver.New(installserver.Config{Interface: "lo", Address: s.address, HTTPPort: s.port,
		StateDir: filepath.Join(t.TempDir(), "state"), IPXEDir: "/usr/lib/ipxe", Secret: testSecret, Log: log.Log},
		installserver.Deps{Reader: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Client: mgr.GetClient(),
			Recorder: mgr.GetEventRecorder(installserver.FieldOwner), Store: s.store, DeployableName: controllers.DeployableName, ArchiveTag: controllers.ArchiveTag})
	if err != nil {
		t.Fatal(err)
	}
	models := modelsource.New(mgr.GetClient())
	rec := mgr.GetEventRecorder("flarecast-manager")
	reconcilers := []interface{ SetupWithManager(ctrl.Manager) error }{
		&installserver.Controller{Reader: mgr.GetClient(), Models: models, Namespace: ns, SiteName: "edge-dc", Server: srv},
	}
	if s.groups {
		reconcilers = append(reconcilers, &controllers.NodesGroupReconciler{Client: mgr.GetClient(), Recorder: rec, Models: models})
	}
	if s.clusters {
		reconcilers = append(reconcilers, &controllers.ClusterReconciler{Client: mgr.GetClient(), Recorder: rec, Models: models})
	}
	for _, r := range reconcilers {
		if err := r.SetupWithManager(mgr); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})
	eventually(t, 30*time.Second, "the site snapshot serves "+s.serves, func() bool { _, ok := srv.Site().ByName(s.serves); return ok })
	hs := httptest.NewUnstartedServer(srv.Handler())
	hs.Listener.Close()
	hs.Listener = l
	hs.Start()
	t.Cleanup(hs.Close)
	return &testServer{Server: srv, URL: hs.URL, Cached: mgr.GetClient()}
}
