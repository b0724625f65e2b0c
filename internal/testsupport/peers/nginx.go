package peers

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Nginx says where StartNginx's nginx listens and how it is started.
type Nginx struct {
	// Listen is host:port; empty takes a free loopback port.
	Listen string
	// Wrap prefixes the nginx command line (ip netns exec NAME), for a server in a network
	// namespace; Dial then reaches the address from there.
	Wrap []string
	Dial func(addr string) error
}

// StartNginx serves dir at /blobs/ with the settings a static file server is given (sendfile,
// tcp_nopush, no access log, a worker per CPU), in the foreground, until the test ends. It
// returns the base URL. The benchmarks hold flarecast's HTTP serving against it.
func StartNginx(t testing.TB, dir string, o Nginx) string {
	t.Helper()
	if _, err := exec.LookPath("nginx"); err != nil {
		t.Skip("nginx is missing: run hack/debian-deps.sh")
	}
	addr := o.Listen
	if addr == "" {
		addr = FreeAddr(t)
	}
	prefix := t.TempDir()
	conf := fmt.Sprintf(`daemon off;
master_process on;
worker_processes auto;
user root;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  default_type application/octet-stream;
  server {
    listen %[2]s;
    location /blobs/ { alias %[3]s/; }
  }
}
`, prefix, addr, dir)
	cfg := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	args := append(append([]string{}, o.Wrap...), "nginx", "-p", prefix, "-c", cfg)
	var log bytes.Buffer
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() })
	dial := o.Dial
	if dial == nil {
		dial = func(addr string) error {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
			}
			return err
		}
	}
	for deadline := time.Now().Add(10 * time.Second); dial(addr) != nil; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("nginx did not start on %s:\n%s", addr, log.String())
		}
	}
	return "http://" + addr
}
