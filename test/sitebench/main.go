// Command sitebench is benchmark P5: it generates a site (by default 10,000 nodes in 100
// NodesGroups over 80 Machines, one Generic archive every group names), starts a real
// kube-apiserver and etcd (the envtest binaries of $KUBEBUILDER_ASSETS) and the flarecast
// manager (the binary -manager names, local executor), applies the site with
// `kubectl apply --server-side`, and measures: the time from the apply's return until every
// group is Valid, the Cluster ModelComplete and ArchivesReady and every deployable Ready;
// the reconciles in the quiet period after that; a manager restart until it is settled
// again, and the archives it rebuilt; one node's address changed, and the archives built
// again for it; the largest object written; the manager's peak memory. hack/bench-site.sh
// runs it. It is a measuring tool, not a test: it asserts nothing and reports what it saw.
package main

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/opencontainers/go-digest"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/yaml"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/internal/cli"
	"github.com/flarecast/flarecast/internal/sitegen"
)

const namespace = "p5"

type options struct {
	nodes, groups, machines int
	manager, kubectl, crds  string
	work                    string
	quiet, timeout          time.Duration
	concurrency             int
	managerArgs             string
}

func main() {
	var o options
	flag.IntVar(&o.nodes, "nodes", 10000, "nodes of the site")
	flag.IntVar(&o.groups, "groups", 100, "NodesGroups of the site")
	flag.IntVar(&o.machines, "machines", 80, "Machines of the site")
	flag.StringVar(&o.manager, "manager", "", "the flarecast binary to run as manager (required)")
	flag.StringVar(&o.kubectl, "kubectl", "bin/k8s/kubectl", "kubectl binary")
	flag.StringVar(&o.crds, "crds", "config/crd/bases", "directory of the CRDs")
	flag.StringVar(&o.work, "work", "", "working directory (default: a new temporary one)")
	flag.DurationVar(&o.quiet, "quiet", 60*time.Second, "how long to count reconciles after convergence")
	flag.DurationVar(&o.timeout, "timeout", 15*time.Minute, "give up on a phase after this long")
	flag.IntVar(&o.concurrency, "executor-concurrency", 2, "the manager's --executor-concurrency")
	flag.StringVar(&o.managerArgs, "manager-args", "", "more arguments for the manager, space-separated")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "sitebench:", err)
		os.Exit(1)
	}
}

// bench is the running site: the API server, the manager and what they are measured by.
type bench struct {
	o       options
	c       client.WithWatch
	kubecfg string
	metrics string // host:port of the manager's metrics endpoint
	mgr     *exec.Cmd
	mgrLog  *os.File
	exited  chan error // the manager's Wait
	runs    int
}

func run(o options) error {
	if o.manager == "" {
		return errors.New("-manager: name the flarecast binary")
	}
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		return errors.New("KUBEBUILDER_ASSETS is not set: point it at bin/k8s")
	}
	if o.work == "" {
		dir, err := os.MkdirTemp("", "sitebench-")
		if err != nil {
			return err
		}
		o.work = dir
	}
	logf.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.ErrorLevel)))
	env := &envtest.Environment{CRDDirectoryPaths: []string{o.crds}, ErrorIfCRDPathMissing: true}
	cfg, err := env.Start()
	if err != nil {
		_ = env.Stop()
		return fmt.Errorf("start kube-apiserver and etcd: %w", err)
	}
	defer func() { _ = env.Stop() }()
	b := &bench{o: o, kubecfg: filepath.Join(o.work, "kubeconfig")}
	// Interrupted, it stops what it started: no manager, API server or etcd outlives it.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		b.stopManager()
		_ = env.Stop()
		os.Exit(1)
	}()
	user, err := env.AddUser(envtest.User{Name: "sitebench", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return err
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return err
	}
	if err := os.WriteFile(b.kubecfg, kc, 0o600); err != nil {
		return err
	}
	if b.c, err = client.NewWithWatch(cfg, client.Options{Scheme: cli.Scheme()}); err != nil {
		return err
	}
	defer b.stopManager()

	url, stopHTTP, err := serveRootfs()
	if err != nil {
		return err
	}
	defer stopHTTP()
	manifest, err := b.writeSite(url)
	if err != nil {
		return err
	}
	fmt.Printf("P5 site: %d nodes, %d NodesGroups, %d Machines; work dir %s\n", o.nodes, o.groups, o.machines, o.work)
	if err := b.startManager(); err != nil {
		return err
	}

	// 1. Apply and converge.
	start := time.Now()
	out, err := exec.Command(o.kubectl, "--kubeconfig", b.kubecfg, "apply", "--server-side", "-f", manifest).CombinedOutput()
	if err != nil {
		return fmt.Errorf("kubectl apply: %v: %s", err, out)
	}
	t0 := time.Now()
	fmt.Printf("apply: %d objects in %.1fs\n", strings.Count(string(out), "\n"), t0.Sub(start).Seconds())
	if err := b.converge(t0, nil); err != nil {
		return err
	}

	// 2. Reconciles after convergence.
	before, err := b.reconciles()
	if err != nil {
		return err
	}
	time.Sleep(o.quiet)
	after, err := b.reconciles()
	if err != nil {
		return err
	}
	fmt.Printf("reconciles in the %s after convergence: %s\n", o.quiet, diff(before, after))
	if err := b.largest(); err != nil {
		return err
	}
	fmt.Printf("manager peak memory (VmHWM): %s\n", vmHWM(b.mgr.Process.Pid))

	// 3. Restart.
	digests, err := b.digests()
	if err != nil {
		return err
	}
	builds, stopWatch, err := b.watchBuilds()
	if err != nil {
		return err
	}
	b.stopManager()
	restart := time.Now()
	if err := b.startManager(); err != nil {
		return err
	}
	settled, err := b.settle(restart)
	if err != nil {
		return err
	}
	now, err := b.digests()
	if err != nil {
		return err
	}
	fmt.Printf("restart: settled %.1fs after the manager started; archives built %d; digests changed %d\n",
		settled.Sub(restart).Seconds(), len(builds()), changed(digests, now))
	fmt.Printf("manager peak memory after the restart (VmHWM): %s\n", vmHWM(b.mgr.Process.Pid))
	stopWatch()

	// 4. One node's address.
	builds, stopWatch, err = b.watchBuilds()
	if err != nil {
		return err
	}
	defer stopWatch()
	group := fmt.Sprintf("g%03d", o.groups/2)
	t1, err := b.readdress(group)
	if err != nil {
		return err
	}
	if err := b.converge(t1, digests); err != nil {
		return err
	}
	built := builds()
	fmt.Printf("one node of %s readdressed: %d archives built again (%s)\n", group, len(built), summarizeNames(built))
	fmt.Printf("manager peak memory at the end (VmHWM): %s\n", vmHWM(b.mgr.Process.Pid))
	return nil
}

// serveRootfs serves a tiny root file system tarball on 127.0.0.1.
func serveRootfs() (string, func(), error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	_ = tw.WriteHeader(&tar.Header{Name: "etc/", Mode: 0o755, Typeflag: tar.TypeDir})
	body := "ID=tiny\n"
	_ = tw.WriteHeader(&tar.Header{Name: "etc/os-release", Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
	_, _ = tw.Write([]byte(body))
	if err := tw.Close(); err != nil {
		return "", nil, err
	}
	data := buf.Bytes()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(data) }), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	return "http://" + l.Addr().String() + "/rootfs.tar#" + string(digest.FromBytes(data)), func() { _ = srv.Close() }, nil
}

// writeSite writes the site's manifest: its namespace, the Generic archive, the Network, the
// Machines, the Cluster and the groups.
func (b *bench) writeSite(url string) (string, error) {
	site, err := sitegen.Generate(sitegen.Shape{Nodes: b.o.nodes, Groups: b.o.groups, Machines: b.o.machines,
		Cluster: "site", Namespace: namespace, Archive: "generic"})
	if err != nil {
		return "", err
	}
	src, dgst, _ := strings.Cut(url, "#")
	objs := []runtime.Object{
		&corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}, ObjectMeta: metav1.ObjectMeta{Name: namespace}},
		&fcv1.FlashArchive{TypeMeta: metav1.TypeMeta{APIVersion: fcv1.GroupVersion.String(), Kind: "FlashArchive"},
			ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "generic"},
			Spec: fcv1.FlashArchiveSpec{Type: fcv1.ArchiveGeneric, Arch: "amd64", OS: &fcv1.OSSpec{Name: "tiny", Version: "1"},
				Source: &fcv1.ArchiveSource{Rootfs: &fcv1.RootfsSource{URL: src, Digest: dgst}}}},
		site.Network,
	}
	for _, m := range site.Machines {
		objs = append(objs, m)
	}
	objs = append(objs, site.Cluster)
	for _, g := range site.Groups {
		objs = append(objs, g)
	}
	var out bytes.Buffer
	for _, o := range objs {
		y, err := yaml.Marshal(o)
		if err != nil {
			return "", err
		}
		out.WriteString("---\n")
		out.Write(y)
	}
	p := filepath.Join(b.o.work, "site.yaml")
	return p, os.WriteFile(p, out.Bytes(), 0o644)
}

// freePorts picks n distinct free ports on 127.0.0.1: each listener stays open until all
// are picked, so the kernel cannot hand out one port twice.
func freePorts(n int) ([]string, error) {
	var addrs []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		addrs = append(addrs, l.Addr().String())
	}
	return addrs, nil
}

// startManager starts the manager and waits for its metrics endpoint.
func (b *bench) startManager() error {
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	b.metrics = ports[0]
	probe := ports[1]
	b.runs++
	b.mgrLog, err = os.Create(filepath.Join(b.o.work, fmt.Sprintf("manager-%d.log", b.runs)))
	if err != nil {
		return err
	}
	args := []string{"manager", "--kubeconfig", b.kubecfg, "--metrics-bind-address", b.metrics,
		"--health-probe-bind-address", probe, "--repo", filepath.Join(b.o.work, "repo"),
		"--executor", "local", "--executor-state-dir", filepath.Join(b.o.work, "builds"),
		"--executor-concurrency", fmt.Sprint(b.o.concurrency)}
	args = append(args, strings.Fields(b.o.managerArgs)...)
	b.mgr = exec.Command(b.o.manager, args...)
	b.mgr.Stdout, b.mgr.Stderr = b.mgrLog, b.mgrLog
	if err := b.mgr.Start(); err != nil {
		return fmt.Errorf("start manager: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- b.mgr.Wait() }()
	b.exited = exited
	deadline := time.Now().Add(b.o.timeout)
	for time.Now().Before(deadline) {
		if _, err := b.scrape(); err == nil {
			return nil
		}
		select {
		case err := <-exited:
			b.mgr = nil
			return fmt.Errorf("manager exited before serving metrics (%v): see %s", err, b.mgrLog.Name())
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("manager metrics at %s: not up after %s (log %s)", b.metrics, b.o.timeout, b.mgrLog.Name())
}

func (b *bench) stopManager() {
	if b.mgr == nil || b.mgr.Process == nil {
		return
	}
	_ = b.mgr.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.exited:
	case <-time.After(30 * time.Second):
		_ = b.mgr.Process.Kill()
		<-b.exited
	}
	b.mgrLog.Close()
	b.mgr = nil
}

// state is what convergence asks of the site, each with the moment it was first seen.
type state struct {
	groupsValid, modelComplete, archivesReady, deployablesReady bool
}

func (b *bench) observe(ctx context.Context) (state, error) {
	var s state
	var groups fcv1.NodesGroupList
	if err := b.c.List(ctx, &groups, client.InNamespace(namespace)); err != nil {
		return s, err
	}
	s.groupsValid = len(groups.Items) == b.o.groups
	for i := range groups.Items {
		g := &groups.Items[i]
		c := meta.FindStatusCondition(g.Status.Conditions, fcv1.ConditionValid)
		s.groupsValid = s.groupsValid && c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == g.Generation
	}
	var cl fcv1.Cluster
	if err := b.c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: "site"}, &cl); err != nil {
		return s, err
	}
	cond := func(typ string) bool {
		c := meta.FindStatusCondition(cl.Status.Conditions, typ)
		return c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == cl.Generation
	}
	s.modelComplete = cond(fcv1.ConditionModelComplete) && cond(fcv1.ConditionValid)
	s.archivesReady = cond(fcv1.ConditionArchivesReady)
	archives, err := b.deployables(ctx)
	if err != nil {
		return s, err
	}
	s.deployablesReady = len(archives) == b.o.groups
	for _, fa := range archives {
		ready := fa.Status.Phase == fcv1.ArchiveReady && fa.Status.Digest != "" && fa.Status.ObservedGeneration == fa.Generation
		s.deployablesReady = s.deployablesReady && ready
	}
	return s, nil
}

func (b *bench) deployables(ctx context.Context) ([]fcv1.FlashArchive, error) {
	var list fcv1.FlashArchiveList
	if err := b.c.List(ctx, &list, client.InNamespace(namespace)); err != nil {
		return nil, err
	}
	var out []fcv1.FlashArchive
	for _, fa := range list.Items {
		if fa.Spec.Type == fcv1.ArchiveDeployable {
			out = append(out, fa)
		}
	}
	return out, nil
}

// converge polls until every criterion holds and prints when each first did. With old (the
// digests before a change) given, only the deployables' criterion is asked, for new digests
// of the deployables readdressed.
func (b *bench) converge(t0 time.Time, old map[string]string) error {
	ctx := context.Background()
	seen := map[string]time.Duration{}
	rebuilt, rebuiltAt := 0, time.Time{}
	mark := func(what string, ok bool) {
		if _, done := seen[what]; ok && !done {
			seen[what] = time.Since(t0)
		}
	}
	for time.Since(t0) < b.o.timeout {
		s, err := b.observe(ctx)
		if err != nil {
			return err
		}
		mark("every group Valid", s.groupsValid)
		mark("Cluster ModelComplete and Valid", s.modelComplete)
		mark("Cluster ArchivesReady", s.archivesReady)
		mark("every deployable Ready", s.deployablesReady)
		if s.groupsValid && s.modelComplete && s.archivesReady && s.deployablesReady {
			if old == nil {
				break
			}
			// After a change, the deployables it touched are built again: done when some
			// have new digests, every one is Ready and that count held for 3 s.
			n, ready := b.rebuiltSince(ctx, old)
			if ready && n > 0 && n != rebuilt {
				rebuilt, rebuiltAt = n, time.Now()
			}
			if rebuilt > 0 && ready && time.Since(rebuiltAt) > 3*time.Second {
				seen[fmt.Sprintf("%d deployables Ready again", rebuilt)] = rebuiltAt.Sub(t0)
				break
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	names := make([]string, 0, len(seen))
	for k := range seen {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool { return seen[names[i]] < seen[names[j]] })
	for _, n := range names {
		fmt.Printf("  %-34s %6.1fs\n", n, seen[n].Seconds())
	}
	if len(seen) < 4 || (old != nil && rebuilt == 0) {
		return fmt.Errorf("not converged after %s (manager log %s)", b.o.timeout, b.mgrLog.Name())
	}
	return nil
}

// rebuiltSince counts the deployables whose digest is no longer the one in old, and says
// whether every deployable is Ready.
func (b *bench) rebuiltSince(ctx context.Context, old map[string]string) (int, bool) {
	archives, err := b.deployables(ctx)
	if err != nil {
		return 0, false
	}
	n, ready := 0, true
	for _, fa := range archives {
		ready = ready && fa.Status.Phase == fcv1.ArchiveReady
		if fa.Status.Digest != old[fa.Name] {
			n++
		}
	}
	return n, ready
}

// reconciles reads controller_runtime_reconcile_total from the manager, by controller.
func (b *bench) reconciles() (map[string]float64, error) {
	fams, err := b.scrape()
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, m := range fams["controller_runtime_reconcile_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "controller" {
				out[l.GetValue()] += m.GetCounter().GetValue()
			}
		}
	}
	return out, nil
}

func (b *bench) scrape() (map[string]*dto.MetricFamily, error) {
	resp, err := http.Get("http://" + b.metrics + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(resp.Body)
}

func diff(before, after map[string]float64) string {
	var parts []string
	total := 0.0
	for k, v := range after {
		if d := v - before[k]; d != 0 {
			parts = append(parts, fmt.Sprintf("%s %.0f", k, d))
			total += d
		}
	}
	sort.Strings(parts)
	return fmt.Sprintf("%.0f (%s)", total, strings.Join(parts, ", "))
}

// settle waits, after a restart, until the manager has done its work: every criterion
// holds, and its reconcile count has not moved for 5 s; it returns the last move.
func (b *bench) settle(start time.Time) (time.Time, error) {
	ctx := context.Background()
	last, lastChange := map[string]float64{}, time.Now()
	for time.Since(start) < b.o.timeout {
		r, err := b.reconciles()
		if err != nil {
			return time.Time{}, err
		}
		if !maps.Equal(last, r) {
			last, lastChange = r, time.Now()
		}
		s, err := b.observe(ctx)
		if err != nil {
			return time.Time{}, err
		}
		ok := s.groupsValid && s.modelComplete && s.archivesReady && s.deployablesReady
		if ok && len(r) > 0 && time.Since(lastChange) > 5*time.Second {
			fmt.Printf("  reconciles after the restart: %s\n", diff(map[string]float64{}, r))
			return lastChange, nil
		}
		time.Sleep(250 * time.Millisecond)
	}
	return time.Time{}, fmt.Errorf("restart: not settled after %s", b.o.timeout)
}

func (b *bench) digests() (map[string]string, error) {
	var list fcv1.FlashArchiveList
	if err := b.c.List(context.Background(), &list, client.InNamespace(namespace)); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, fa := range list.Items {
		out[fa.Name] = fa.Status.Digest
	}
	return out, nil
}

func changed(a, b map[string]string) int {
	n := 0
	for k, v := range a {
		if b[k] != v {
			n++
		}
	}
	return n
}

// watchBuilds counts the FlashArchives that enter phase Building from now on.
func (b *bench) watchBuilds() (func() []string, func(), error) {
	ctx, cancel := context.WithCancel(context.Background())
	w, err := b.c.Watch(ctx, &fcv1.FlashArchiveList{}, client.InNamespace(namespace))
	if err != nil {
		cancel()
		return nil, nil, err
	}
	phase := map[string]fcv1.ArchivePhase{}
	var built []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			fa, ok := ev.Object.(*fcv1.FlashArchive)
			if !ok {
				continue
			}
			if _, known := phase[fa.Name]; known && fa.Status.Phase == fcv1.ArchiveBuilding && phase[fa.Name] != fcv1.ArchiveBuilding {
				built = append(built, fa.Name)
			}
			phase[fa.Name] = fa.Status.Phase
		}
	}()
	stop := func() { w.Stop(); cancel(); <-done }
	return func() []string {
		// Reading while the watch runs: stop it first for an exact figure.
		stop()
		return built
	}, func() {}, nil
}

func summarizeNames(names []string) string {
	sort.Strings(names)
	if len(names) > 5 {
		return strings.Join(names[:5], ", ") + fmt.Sprintf(", … %d more", len(names)-5)
	}
	return strings.Join(names, ", ")
}

// readdress gives the first node of a group a new id, and so (the network derives
// addresses from ids) a new address; it returns when the update is accepted.
func (b *bench) readdress(group string) (time.Time, error) {
	ctx := context.Background()
	var g fcv1.NodesGroup
	if err := b.c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: group}, &g); err != nil {
		return time.Time{}, err
	}
	g.Spec.Nodes[0].ID = int32(b.o.nodes + 1)
	g.ManagedFields = nil
	if err := b.c.Update(ctx, &g); err != nil {
		return time.Time{}, fmt.Errorf("readdress node %s: %w", g.Spec.Nodes[0].Name, err)
	}
	return time.Now(), nil
}

// largest prints the largest object of each kind, as JSON.
func (b *bench) largest() error {
	ctx := context.Background()
	lists := map[string]client.ObjectList{
		"Cluster": &fcv1.ClusterList{}, "NodesGroup": &fcv1.NodesGroupList{}, "Machine": &fcv1.MachineList{},
		"Network": &fcv1.NetworkList{}, "FlashArchive": &fcv1.FlashArchiveList{},
	}
	var parts []string
	for _, kind := range []string{"Cluster", "NodesGroup", "Machine", "Network", "FlashArchive"} {
		l := lists[kind]
		if err := b.c.List(ctx, l, client.InNamespace(namespace)); err != nil {
			return err
		}
		items, err := meta.ExtractList(l)
		if err != nil {
			return err
		}
		max, name := 0, ""
		for _, it := range items {
			data, err := json.Marshal(it)
			if err != nil {
				return err
			}
			if len(data) > max {
				max, name = len(data), it.(client.Object).GetName()
			}
		}
		parts = append(parts, fmt.Sprintf("%s %s %.0f KiB", kind, name, float64(max)/1024))
	}
	fmt.Printf("largest object of each kind: %s\n", strings.Join(parts, "; "))
	return nil
}

// vmHWM is the peak resident memory of a process.
func vmHWM(pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return err.Error()
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			return strings.TrimSpace(strings.TrimPrefix(line, "VmHWM:"))
		}
	}
	return "?"
}
