// Command controlplane runs a real kube-apiserver and etcd on this machine (the envtest
// binaries that hack/envtest-assets.sh builds), installs the flarecast CRDs, writes a
// kubeconfig, and keeps them running until it is told to stop. `make demo` uses it so a
// newcomer sees flarecast work with no Docker and no cluster; it is not for production.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

func main() {
	kubeconfig := flag.String("write-kubeconfig", ".demo/kubeconfig", "where to write the kubeconfig of the started API server")
	crds := flag.String("crds", "config/crd/bases", "directory of CRDs to install")
	flag.Parse()
	if err := run(*kubeconfig, *crds); err != nil {
		fmt.Fprintln(os.Stderr, "controlplane:", err)
		os.Exit(1)
	}
}

func run(kubeconfig, crds string) error {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		return fmt.Errorf("KUBEBUILDER_ASSETS is not set: run hack/envtest-assets.sh and point it at the result")
	}
	env := &envtest.Environment{CRDDirectoryPaths: []string{crds}, ErrorIfCRDPathMissing: true}
	cfg, err := env.Start()
	if err != nil {
		// Start may fail after launching etcd and the API server (a CRD refused): stop them.
		_ = env.Stop()
		return fmt.Errorf("start kube-apiserver and etcd: %w", err)
	}
	// Stop on every path out, so no etcd or apiserver outlives the demo.
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "controlplane: stop:", err)
		}
	}()

	user, err := env.AddUser(envtest.User{Name: "demo-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("add user: %w", err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	parsed, err := clientcmd.Load(kc)
	if err != nil {
		return err
	}
	renameContext(parsed, "flarecast-demo")
	if err := os.MkdirAll(filepath.Dir(kubeconfig), 0o755); err != nil {
		return err
	}
	if err := clientcmd.WriteToFile(*parsed, kubeconfig); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	fmt.Printf("API server %s ready; kubeconfig %s\n", cfg.Host, kubeconfig)

	// The handler stays installed while the deferred Stop runs: a second signal (demo-down
	// and the demo's own exit trap both send one) must not kill this process half-way and
	// orphan etcd.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	fmt.Println("stopping the API server and etcd")
	return nil
}

// renameContext gives the demo's context a name that says what it is, in `kubectl config`.
func renameContext(c *clientcmdapi.Config, name string) {
	for old, ctx := range c.Contexts {
		delete(c.Contexts, old)
		c.Contexts[name] = ctx
	}
	c.CurrentContext = name
}
