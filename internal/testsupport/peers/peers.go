// Package peers finds and starts the programs no one here wrote that the tests talk to:
// those hack/test-peers.sh builds into bin/ (the distribution registry, crane), and a
// registry started on a free loopback port, with or without htpasswd authentication, and an
// nginx serving a directory as a site would serve static files.
//
// Tests only: it calls testing.TB. A peer that is missing skips the test, unless
// FLARECAST_REQUIRE_PEERS is set (make test and CI set it), which makes that a failure.
package peers

import (
	"bytes"
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

// The credentials of an authenticating registry.
const (
	User     = "flarecast"
	Password = "flarecast-test-password"
	// passwordHash is bcrypt of Password (cost 4), for the registry's htpasswd file.
	passwordHash = "$2a$04$e3gVO9jwZ9s4FEeVesteleuj0YhSNWkeEmv4zS4EWU00Z0wr7TwvS"
)

// Bin returns the path of bin/<name> at the module's root.
func Bin(t testing.TB, name string) string {
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

// FreeAddr is a loopback host:port nothing listens on now.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Registry is a distribution registry a test started.
type Registry struct {
	// Addr is its host:port on loopback.
	Addr string
	// Data is its storage root, for a test that changes what the registry holds behind
	// its back (a corrupted blob).
	Data string
	cmd  *exec.Cmd
}

// Stop kills the registry (it also goes when the test ends).
func (r *Registry) Stop() {
	if r.cmd.ProcessState == nil {
		r.cmd.Process.Kill()
		r.cmd.Wait()
	}
}

// StartRegistry starts the distribution registry on a free loopback port, its storage in a
// temporary directory, until the test ends; with auth, it asks for User and Password.
func StartRegistry(t testing.TB, auth bool) *Registry {
	t.Helper()
	bin := Bin(t, "registry")
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	addr := FreeAddr(t)
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
`, data, addr)
	if auth {
		htpasswd := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(htpasswd, []byte(User+":"+passwordHash+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		config += fmt.Sprintf("auth:\n  htpasswd:\n    realm: flarecast-test\n    path: %s\n", htpasswd)
	}
	cfg := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	cmd := exec.Command(bin, "serve", cfg)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &Registry{Addr: addr, Data: data, cmd: cmd}
	t.Cleanup(r.Stop)
	for deadline := time.Now().Add(20 * time.Second); ; {
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

// DockerConfig is a docker config.json giving user and password for host.
func DockerConfig(host, user, password string) []byte {
	b, _ := json.Marshal(map[string]any{"auths": map[string]any{
		host: map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(user + ":" + password))},
	}})
	return b
}
