package repository

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/flarecast/flarecast/internal/testsupport/peers"
)

// Peers are programs no one here wrote, built by hack/test-peers.sh into bin/: the
// distribution registry and crane (internal/testsupport/peers finds and starts them).

const (
	testUser     = peers.User
	testPassword = peers.Password
)

func peer(t testing.TB, name string) string { t.Helper(); return peers.Bin(t, name) }

// testRegistry is a distribution registry on 127.0.0.1 with its storage in a temp dir.
type testRegistry struct {
	addr string // host:port
	r    *peers.Registry
}

func startRegistry(t testing.TB, withAuth bool) *testRegistry {
	t.Helper()
	r := peers.StartRegistry(t, withAuth)
	return &testRegistry{addr: r.Addr, r: r}
}

func (r *testRegistry) stop() { r.r.Stop() }

func (r *testRegistry) location(repo string) string { return RemoteScheme + r.addr + "/" + repo }

func freeAddr(t testing.TB) string { t.Helper(); return peers.FreeAddr(t) }

// dockerConfig writes a docker config.json with credentials for host and returns its path.
func dockerConfig(t testing.TB, host, user, password string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(path, peers.DockerConfig(host, user, password), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// crane runs bin/crane and returns its stdout.
func crane(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(peer(t, "crane"), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// crane reads credentials from DOCKER_CONFIG; give it an empty one.
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+t.TempDir())
	if err := cmd.Run(); err != nil {
		t.Fatalf("crane %v: %v\n%s", args, err, stderr.String())
	}
	return stdout.String()
}

func openRemote(t *testing.T, location string, opts Options) Store {
	t.Helper()
	if opts.DockerConfig == "" {
		opts.DockerConfig = dockerConfig(t, "example.invalid", "nobody", "nothing")
	}
	s, err := Open(context.Background(), location, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
