package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/controllers"
	"github.com/flarecast/flarecast/internal/cli"
	"github.com/flarecast/flarecast/internal/initramfs"
	"github.com/flarecast/flarecast/internal/installplan"
	"github.com/flarecast/flarecast/internal/model/manifest"
	"github.com/flarecast/flarecast/internal/testsupport/netlab"
)

// TestDisklessNFSRoot boots a qemu guest (TCG, the Debian kernel given with -kernel, an
// initramfs from internal/initramfs whose /init is test/e2e/nfsinit) that mounts its root
// read-only from the real `flarecast installserver`: an API server (envtest) holds the sample
// site and the Diskless group's deployable FlashArchive (Ready, its digest), the command
// serves the site on a veth whose other end is on the lab's bridge and exports the
// deployable's verified extraction at /flarecast/<namespace>/diskless. The guest reads a
// setuid file's mode (4755 intact) and a file's content; then the command is stopped
// (SIGTERM) and started again over the same state directory (the tree is not made again), and
// the guest, still mounted, reads a file it had not opened before, through the handles of
// before the restart.
func TestDisklessNFSRoot(t *testing.T) {
	requireE2E(t)
	l := newLab(t)
	ctx := context.Background()

	env := &envtest.Environment{CRDDirectoryPaths: []string{filepath.Join("..", "..", "config", "crd", "bases")}, ErrorIfCRDPathMissing: true}
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		env.BinaryAssetsDirectory = filepath.Join("..", "..", "bin", "k8s")
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("start the API server: %v", err)
	}
	t.Cleanup(func() { env.Stop() })
	k8s, err := client.New(cfg, client.Options{Scheme: cli.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	ns := "e2e-diskless"
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("..", "..", "config", "samples")
	objs, errs := manifest.Read([]string{filepath.Join(dir, "machine.yaml"), filepath.Join(dir, "network.yaml"), filepath.Join(dir, "cluster.yaml"), filepath.Join(dir, "nodesgroups.yaml")}, nil)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	for _, o := range objs {
		u := &unstructured.Unstructured{Object: o.Object}
		u.SetNamespace(ns)
		if err := k8s.Create(ctx, u); err != nil {
			t.Fatalf("create %s %s: %v", o.GVK().Kind, o.Name(), err)
		}
	}
	repo, dgst := disklessDeployable(t, l.dir)
	fa := &fcv1.FlashArchive{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: controllers.DeployableName("edge", "diskless")},
		Spec: fcv1.FlashArchiveSpec{Type: fcv1.ArchiveType("Deployable"), Arch: fcv1.Arch("amd64"), OS: &fcv1.OSSpec{Name: "debian", Version: "12"},
			BaseRef: &fcv1.LocalObjectReference{Name: "debian12-base"}, ClusterRef: &fcv1.LocalObjectReference{Name: "edge"},
			NodesGroupRef: &fcv1.LocalObjectReference{Name: "diskless"}},
	}
	if err := k8s.Create(ctx, fa); err != nil {
		t.Fatal(err)
	}
	fa.Status.Phase, fa.Status.Digest = fcv1.ArchiveReady, dgst
	if err := k8s.Status().Update(ctx, fa); err != nil {
		t.Fatal(err)
	}
	u, err := env.AddUser(envtest.User{Name: "installserver", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := u.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig, secret := filepath.Join(l.dir, "kubeconfig"), filepath.Join(l.dir, "secret")
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(secret, []byte("the e2e site secret, not a secret"), 0o600); err != nil {
		t.Fatal(err)
	}

	// The command runs in this namespace (it reaches the API server on loopback), on a veth
	// whose peer is on the lab's bridge: the server's address moves from the bridge to it, as
	// a host address with a host route to the guest, so nothing else of this machine's
	// routing changes.
	// 198.18.0.1 on this host is also the demo's server address.
	netlab.HoldLock(t, netlab.SampleSiteLock)
	veth := fmt.Sprintf("fcdl%d", os.Getpid()%100000)
	l.ns.IP("addr", "del", serverCIDR, "dev", bridge)
	netlab.Run(t, "ip", "link", "add", veth, "type", "veth", "peer", "name", "up0", "netns", l.ns.Name)
	t.Cleanup(func() { exec.Command("ip", "link", "del", veth).Run() })
	l.ns.IP("link", "set", "up0", "master", bridge, "up")
	netlab.Run(t, "ip", "addr", "add", serverIP+"/32", "dev", veth)
	netlab.Run(t, "ip", "link", "set", veth, "up")
	netlab.Run(t, "ip", "route", "add", nodeIP+"/32", "dev", veth)

	bin := filepath.Join(l.dir, "flarecast")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/flarecast/flarecast").CombinedOutput(); err != nil {
		t.Fatalf("build flarecast: %v\n%s", err, out)
	}
	state := filepath.Join(l.dir, "state")
	runs := 0
	start := func() (stop func()) {
		runs++
		logPath := filepath.Join(l.dir, fmt.Sprintf("installserver-%d.log", runs))
		logf, err := os.Create(logPath)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "installserver", "--kubeconfig", kubeconfig, "--namespace", ns, "--site", "edge-dc",
			"--interface", veth, "--address", serverIP, "--repo", repo, "--boot-dir", "/usr/lib/ipxe",
			"--http-port", "18089", "--tftp-port", "16969", "--nfs-port", nfsPort,
			"--state-dir", state, "--secret-file", secret, "--log-development")
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { cmd.Wait(); logf.Close(); close(done) }()
		stopped := false
		stop = func() {
			if stopped {
				return
			}
			stopped = true
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				cmd.Process.Kill()
				<-done
				t.Errorf("flarecast installserver did not stop on SIGTERM")
			}
			if !cmd.ProcessState.Success() {
				t.Errorf("flarecast installserver ended with %v:\n%s", cmd.ProcessState, tail(readFile(t, logPath)))
			}
		}
		t.Cleanup(stop)
		deadline := time.Now().Add(2 * time.Minute)
		for !strings.Contains(readFile(t, logPath), "nfs exports in force") {
			select {
			case <-done:
				t.Fatalf("flarecast installserver ended:\n%s", tail(readFile(t, logPath)))
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("no export after 2 minutes:\n%s", tail(readFile(t, logPath)))
			}
			time.Sleep(100 * time.Millisecond)
		}
		return stop
	}
	stop := start()

	img, err := initramfs.Build(initramfs.Spec{Init: buildInit(t, "./nfsinit")}, filepath.Join(l.dir, "cache"))
	if err != nil {
		t.Fatal(err)
	}
	root := installplan.NFSRoot{Server: serverIP, Port: 2049, Path: "/flarecast/" + ns + "/diskless"}
	serial := filepath.Join(l.dir, "serial-diskless.log")
	p := l.start("qemu-diskless", "qemu-system-x86_64", "-accel", "tcg", "-m", "512", "-smp", "1",
		"-display", "none", "-monitor", "none", "-no-reboot", "-serial", "file:"+serial,
		"-kernel", "/boot/vmlinuz-"+img.KernelVersion, "-initrd", img.Path,
		"-append", strings.Join([]string{"console=ttyS0,115200n8", "quiet", installplan.ArgNFSRoot + "=" + root.String(),
			"flarecast.e2e.addr=" + nodeIP + "/24", "flarecast.e2e.go=" + serverIP + ":" + goPort}, " "),
		"-netdev", "tap,id=n0,ifname="+tap+",script=no,downscript=no", "-device", "virtio-net-pci,netdev=n0,mac="+nodeMAC)
	wait := func(re *regexp.Regexp) []string {
		t.Helper()
		deadline := time.After(bootTimeout)
		for {
			out := readFile(t, serial)
			if strings.Contains(out, "flarecast-e2e: failed") {
				t.Fatalf("the guest failed:\n%s", tail(out))
			}
			if m := re.FindStringSubmatch(out); m != nil {
				return m
			}
			select {
			case <-p.done:
				t.Fatalf("qemu ended (%v)\nserial console:\n%s", p.cmd.ProcessState, tail(out))
			case <-deadline:
				t.Fatalf("no %q after %s\nserial console:\n%s", re, bootTimeout, tail(out))
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	if m := wait(regexp.MustCompile(`flarecast-e2e: mode usr/bin/su (\d+)`)); m[1] != "4755" {
		t.Errorf("usr/bin/su has mode %s in the guest, want 4755", m[1])
	}
	if m := wait(regexp.MustCompile(`flarecast-e2e: file etc/os-release (".*")`)); m[1] != `"ID=flarecast-diskless\n"` {
		t.Errorf("etc/os-release in the guest: %s", m[1])
	}

	stop()
	start()
	if n := strings.Count(readFile(t, filepath.Join(l.dir, "installserver-2.log")), "nfs tree made"); n != 0 {
		t.Errorf("the restarted command made the tree again (%d)", n)
	}
	ln, err := net.Listen("tcp4", serverIP+":"+goPort)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	if m := wait(regexp.MustCompile(`flarecast-e2e: after restart etc/after-restart (".*")`)); m[1] != `"read after the restart\n"` {
		t.Errorf("etc/after-restart in the guest: %s", m[1])
	}
}
