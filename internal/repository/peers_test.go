package repository

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Peers are programs no one here wrote, built by hack/test-peers.sh into bin/: the
// distribution registry and crane.

const (
	testUser     = "flarecast"
	testPassword = "flarecast-test-password"
	// bcrypt of testPassword (cost 4), for the registry's htpasswd file.
	testPasswordHash = "$2a$04$e3gVO9jwZ9s4FEeVesteleuj0YhSNWkeEmv4zS4EWU00Z0wr7TwvS"
)

// peer returns the path of bin/<name>, skipping the test when it is absent unless
// FLARECAST_REQUIRE_PEERS is set.
func peer(t testing.TB, name string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test directory")
		}
		dir = parent
	}
	path := filepath.Join(dir, "bin", name)
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("FLARECAST_REQUIRE_PEERS") != "" {
			t.Fatalf("%s is missing and FLARECAST_REQUIRE_PEERS is set: run hack/test-peers.sh", path)
		}
		t.Skipf("%s is missing: run hack/test-peers.sh to build it (FLARECAST_REQUIRE_PEERS=1 makes this a failure)", path)
	}
	return path
}

// testRegistry is a distribution registry on 127.0.0.1 with its storage in a temp dir.
type testRegistry struct {
	addr string // host:port
	cmd  *exec.Cmd
}

func startRegistry(t testing.TB, withAuth bool) *testRegistry {
	t.Helper()
	bin := peer(t, "registry")
	dir := t.TempDir()
	addr := freeAddr(t)
	config := fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
  secret: flarecast-test-secret
`, filepath.Join(dir, "data"), addr)
	if withAuth {
		htpasswd := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(htpasswd, []byte(testUser+":"+testPasswordHash+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		config += fmt.Sprintf("auth:\n  htpasswd:\n    realm: flarecast-test\n    path: %s\n", htpasswd)
	}
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	cmd := exec.Command(bin, "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &testRegistry{addr: addr, cmd: cmd}
	t.Cleanup(r.stop)
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("registry did not answer on %s: %v\n%s", addr, err, log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (r *testRegistry) stop() {
	if r.cmd.ProcessState == nil {
		r.cmd.Process.Kill()
		r.cmd.Wait()
	}
}

func (r *testRegistry) location(repo string) string { return RemoteScheme + r.addr + "/" + repo }

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// dockerConfig writes a docker config.json with credentials for host and returns its path.
func dockerConfig(t testing.TB, host, user, password string) string {
	t.Helper()
	cfg := map[string]any{"auths": map[string]any{
		host: map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(user + ":" + password))},
	}}
	data, _ := json.Marshal(cfg)
	path := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
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
