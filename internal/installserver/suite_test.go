package installserver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/controllers"
	"github.com/flarecast/flarecast/internal/archive"
	"github.com/flarecast/flarecast/internal/cli"
	"github.com/flarecast/flarecast/internal/installplan"
	"github.com/flarecast/flarecast/internal/repository"
	"github.com/flarecast/flarecast/internal/tarball"
)

// asCLI makes the test binary the flarecast command: the tests start the real
// `flarecast installserver` as a process of its own.
const asCLI = "FLARECAST_TEST_AS_CLI"

var (
	// k8s is a client of the real API server the suite starts (nil without envtest).
	k8s     client.Client
	cfg     *rest.Config
	testEnv *envtest.Environment
)

func TestMain(m *testing.M) {
	if os.Getenv(asCLI) != "" {
		os.Exit(cli.Execute(context.Background(), cli.NewRootCommand(), os.Stdout, os.Stderr))
	}
	code := run(m)
	removeAgentBuild()
	os.Exit(code)
}

func run(m *testing.M) int {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		// The domain tests run alone; the ones against an API server skip (needAPI).
		return m.Run()
	}
	// The controller-runtime machinery logs through the global logger; the tests read what
	// they check from status, events and the command's own output.
	logf.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	testEnv = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	var err error
	cfg, err = testEnv.Start()
	if err != nil {
		_ = testEnv.Stop()
		fmt.Fprintln(os.Stderr, "start envtest:", err)
		return 1
	}
	defer func() {
		if err := testEnv.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop envtest:", err)
		}
	}()
	if k8s, err = client.New(cfg, client.Options{Scheme: cli.Scheme()}); err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		return 1
	}
	return m.Run()
}

// needAPI skips a test that needs the API server when the suite runs without one, unless
// FLARECAST_REQUIRE_PEERS is set (make test), where that is a failure.
func needAPI(t *testing.T) {
	t.Helper()
	if k8s != nil {
		return
	}
	if os.Getenv("FLARECAST_REQUIRE_PEERS") != "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set (FLARECAST_REQUIRE_PEERS is): run make test")
	}
	t.Skip("needs an API server: set KUBEBUILDER_ASSETS (make test does)")
}

var nsCount int

// newNamespace makes a namespace of its own for a test.
func newNamespace(t *testing.T) string {
	t.Helper()
	nsCount++
	name := fmt.Sprintf("is-%d-%d", os.Getpid()%100000, nsCount)
	if err := k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
	return name
}

// applySamples creates the sample site in ns and returns it.
func applySamples(t *testing.T, ns string) *sampleSite {
	t.Helper()
	s := loadSamples(t, ns)
	for _, o := range s.objects() {
		if err := k8s.Create(context.Background(), o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}
	return s
}

// deployable is a deployable archive in a local repository, made for NodesGroup masters of
// the sample's Cluster edge, whose cluster section carries plans for the nodes named.
type deployable struct {
	repo   string
	store  repository.Store
	digest string
	desc   ocispec.Descriptor
	group  string
}

func makeDeployable(t *testing.T, ns string, planned ...string) *deployable {
	t.Helper()
	return makeGroupDeployable(t, ns, "masters", planned...)
}

// makeGroupDeployable is makeDeployable for another group of Cluster edge (its plans say
// Diskless with an NFS root for group diskless).
func makeGroupDeployable(t *testing.T, ns, group string, planned ...string) *deployable {
	t.Helper()
	return makeDeployableAt(t, filepath.Join(t.TempDir(), "repo"), ns, group, "ID=flarecast-test\n", planned...)
}

// makeDeployableAt is makeGroupDeployable into the repository at repo (made when missing),
// with osRelease as the tree's etc/os-release.
func makeDeployableAt(t *testing.T, repo, ns, group, osRelease string, planned ...string) *deployable {
	t.Helper()
	return makeDeployableWith(t, repo, ns, group, osRelease, nil, planned...)
}

// makeDeployableWith is makeDeployableAt with each plan changed by edit (when not nil).
func makeDeployableWith(t *testing.T, repo, ns, group, osRelease string, edit func(*installplan.Plan), planned ...string) *deployable {
	t.Helper()
	ctx := context.Background()
	store, err := repository.Open(ctx, repo, repository.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tree := t.TempDir()
	if err := os.MkdirAll(filepath.Join(tree, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tree, "etc", "os-release"), []byte(osRelease), 0o644); err != nil {
		t.Fatal(err)
	}
	created := time.Unix(1700000000, 0).UTC()
	base, _, err := archive.Create(ctx, store, tarball.DirSource(tree), archive.CreateOptions{Name: "base", Architecture: "amd64", OS: "linux", Created: &created})
	if err != nil {
		t.Fatal(err)
	}
	cl := &archive.ClusterSection{Nodes: []archive.Node{{Name: "m1", ID: 1, Group: "masters"}, {Name: "m2", ID: 2, Group: "masters"}}}
	for _, n := range planned {
		p := installplan.Plan{Version: installplan.Version, Namespace: ns, Cluster: "edge", Group: group, Node: n, Hostname: n,
			NodeType: "Diskfull", Role: "MasterEligible", Firmware: "UEFI", Arch: "amd64",
			Disks: []installplan.Disk{{Name: "disk0", Device: "/dev/sda", Size: 480 << 30}}}
		if group == "diskless" {
			p.NodeType, p.Role, p.Disks, p.Root = "Diskless", "NonMasterEligible", nil, "NFS"
		}
		if edit != nil {
			edit(&p)
		}
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		cl.Files = append(cl.Files, archive.File{Path: "/" + installplan.PlanDir + "/" + n + ".json", Data: b})
	}
	load := &archive.SoftwareLoadDescriptor{Cluster: "edge", Domain: 7, Groups: []archive.GroupLoad{{Name: "masters", Archive: base.Digest, Nodes: []string{"m1", "m2"}}}}
	res, err := archive.Derive(ctx, store, archive.DeriveOptions{Base: "base", Name: "edge-" + group, Type: archive.Deployable, Cluster: cl,
		SoftwareLoad: load, NodesGroup: "masters", Created: &created})
	if err != nil {
		t.Fatal(err)
	}
	return &deployable{repo: repo, store: store, digest: res.Descriptor.Digest.String(), desc: res.Descriptor, group: group}
}

// publish creates the group's deployable FlashArchive as the controllers would have built
// it: Ready, with the archive's digest.
func (d *deployable) publish(t *testing.T, ns string) {
	t.Helper()
	ctx := context.Background()
	fa := &fcv1.FlashArchive{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: controllers.DeployableName("edge", d.group)},
		Spec: fcv1.FlashArchiveSpec{Type: fcv1.ArchiveType("Deployable"), Arch: fcv1.Arch("amd64"), OS: &fcv1.OSSpec{Name: "debian", Version: "12"},
			BaseRef: &fcv1.LocalObjectReference{Name: "debian12-base"}, ClusterRef: &fcv1.LocalObjectReference{Name: "edge"},
			NodesGroupRef: &fcv1.LocalObjectReference{Name: d.group}},
	}
	if err := k8s.Create(ctx, fa); err != nil {
		t.Fatal(err)
	}
	fa.Status.Phase = fcv1.ArchiveReady
	fa.Status.Digest = d.digest
	if err := k8s.Status().Update(ctx, fa); err != nil {
		t.Fatal(err)
	}
}
