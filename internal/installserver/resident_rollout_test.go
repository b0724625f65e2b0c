package installserver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/controllers"
	"github.com/flarecast/flarecast/internal/agent"
	"github.com/flarecast/flarecast/internal/agentapi"
	"github.com/flarecast/flarecast/internal/archive"
	"github.com/flarecast/flarecast/internal/installplan"
	"github.com/flarecast/flarecast/internal/repository"
	"github.com/flarecast/flarecast/internal/tarball"
)

// rolloutSite is the sample site made into two groups of nodes that install from their
// disks: masters (m1, m2, master-eligible) and group diskless turned Dataless, its four
// drawers given d2's disk (n5…n8), so that six nodes run resident agents. Both groups allow
// two nodes down at once: only the master-eligible rule keeps m1 and m2 apart.
func rolloutSite(t *testing.T, ns string) {
	t.Helper()
	s := loadSamples(t, ns)
	for _, m := range s.Machines {
		for si := range m.Spec.Shelves {
			drawers := m.Spec.Shelves[si].Drawers
			var disks []fcv1.Disk
			for _, d := range drawers {
				if d.Name == "d2" {
					disks = d.Disks
				}
			}
			for di := range drawers {
				if drawers[di].Name == "d3" || drawers[di].Name == "d4" {
					drawers[di].Disks = append([]fcv1.Disk(nil), disks...)
				}
			}
		}
	}
	for _, g := range s.Groups {
		switch g.Name {
		case "masters":
			g.Spec.Rollout.MaxUnavailable = 2
		case "diskless":
			g.Spec.NodeType, g.Spec.Diskless = fcv1.NodeTypeDataless, nil
			g.Spec.RequiredFilesystems = []fcv1.RequiredFilesystem{{MountPoint: "/"}}
			g.Spec.Rollout.MaxUnavailable = 2
		}
	}
	for _, o := range s.objects() {
		if err := k8s.Create(context.Background(), o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}
}

var rolloutGroups = map[string][]string{"masters": {"m1", "m2"}, "diskless": {"n5", "n6", "n7", "n8"}}

// groupBuild is a deployable of one group in repo whose plans install into a directory root
// (no disks: the simulated nodes of this test are directories), told apart from the group's
// other builds by its release file.
func groupBuild(t *testing.T, store repository.Store, ns, group, release string) *deployable {
	t.Helper()
	ctx := context.Background()
	tree := t.TempDir()
	os.MkdirAll(filepath.Join(tree, "etc"), 0o755)
	os.WriteFile(filepath.Join(tree, "etc", "os-release"), []byte("ID=flarecast-test\nVERSION_ID="+release+"\n"), 0o644)
	created := time.Unix(1700000000, 0).UTC()
	base, _, err := archive.Create(ctx, store, tarball.DirSource(tree), archive.CreateOptions{Name: "base-" + release, Architecture: "amd64", OS: "linux", Created: &created})
	if err != nil {
		t.Fatal(err)
	}
	cl := &archive.ClusterSection{}
	for _, n := range rolloutGroups[group] {
		role := "NonMasterEligible"
		if group == "masters" {
			role = "MasterEligible"
		}
		cl.Nodes = append(cl.Nodes, archive.Node{Name: n, ID: len(cl.Nodes) + 1, Group: group})
		b, err := json.Marshal(installplan.Plan{Version: installplan.Version, Namespace: ns, Cluster: "edge", Group: group, Node: n, Hostname: n,
			NodeType: "Diskfull", Role: role, Firmware: "UEFI", Arch: "amd64"})
		if err != nil {
			t.Fatal(err)
		}
		cl.Files = append(cl.Files, archive.File{Path: "/" + installplan.PlanDir + "/" + n + ".json", Data: b})
	}
	load := &archive.SoftwareLoadDescriptor{Cluster: "edge", Domain: 7, Groups: []archive.GroupLoad{{Name: group, Archive: base.Digest, Nodes: rolloutGroups[group]}}}
	res, err := archive.Derive(ctx, store, archive.DeriveOptions{Base: "base-" + release, Name: "edge-" + group, Type: archive.Deployable, Cluster: cl,
		SoftwareLoad: load, NodesGroup: group, Created: &created})
	if err != nil {
		t.Fatal(err)
	}
	return &deployable{store: store, digest: res.Descriptor.Digest.String(), desc: res.Descriptor, group: group}
}

// republish moves the group's deployable FlashArchive to another build, as the FlashArchive
// reconciler does when it has built the group's next deployable.
func republish(t *testing.T, ns string, d *deployable) {
	t.Helper()
	var fa fcv1.FlashArchive
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: controllers.DeployableName("edge", d.group)}, &fa); err != nil {
		t.Fatal(err)
	}
	fa.Status.Phase, fa.Status.Digest = fcv1.ArchiveReady, d.digest
	if err := k8s.Status().Update(context.Background(), &fa); err != nil {
		t.Fatal(err)
	}
}

// startRolloutServer runs, against the suite's API server, the manager's Cluster and
// NodesGroup reconcilers and the install server (its site controller in the same manager,
// its HTTP side on a port of its own, which the section URLs it hands out name).
func startRolloutServer(t *testing.T, ns string, store repository.Store) string {
	t.Helper()
	return startServer(t, ns, serverSetup{store: store, groups: true, clusters: true, serves: "n8"}).URL
}

// phaseBoard holds each simulated node's phase as its agent last reported it: what the
// node is, not what the API server has stored of it yet.
type phaseBoard struct {
	mu     sync.Mutex
	phase  map[string]installplan.Phase
	digest map[string]string
}

func (b *phaseBoard) set(node string, ev installplan.Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.phase[node] = ev.Phase
	if ev.Phase == installplan.PhaseRunning {
		b.digest[node] = ev.InstalledDigest
	}
}

// boardServer is a node's agent API client that writes each report on the board as it is
// sent (a node is down from the moment it says so).
type boardServer struct {
	*agentapi.Client
	node  string
	board *phaseBoard
}

func (s boardServer) Report(ctx context.Context, ev installplan.Event) error {
	s.board.set(s.node, ev)
	return s.Client.Report(ctx, ev)
}

// simulatedNode is one node's life: installed in its directory root as if booted from the
// network, then its resident agent, which reinstalls in place when told to.
func simulatedNode(ctx context.Context, server, ns, node, root string, board *phaseBoard, interval time.Duration) error {
	ref := agentapi.NodeRef{Namespace: ns, Cluster: "edge", Node: node}
	tok := installplan.Token(testSecret, ns, "edge", node)
	c, err := agentapi.NewClient(server, ref, tok, agentapi.ClientOptions{MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second})
	if err != nil {
		return err
	}
	srv := boardServer{Client: c, node: node, board: board}
	install := agent.Config{Server: srv, Target: root, Resident: &agent.Resident{Server: server, Node: ref.String(), Token: tok}, ProgressEvery: time.Hour}
	if _, err := agent.InstallInPlace(ctx, install); err != nil {
		return fmt.Errorf("%s: first install: %w", node, err)
	}
	for {
		res, err := agent.RunResident(ctx, agent.ResidentLoop{Server: srv, Root: root, Interval: interval,
			Reinstall: func(ctx context.Context, _ installplan.PlanResponse) error {
				_, err := agent.InstallInPlace(ctx, install)
				return err
			}})
		if err != nil {
			return fmt.Errorf("%s: %w", node, err)
		}
		if !res.Reinstalled {
			return nil
		}
	}
}

// TestSixSimulatedNodesRollOutANewDeployableWithinTheirBounds: six nodes run their groups'
// deployables with resident agents (the real agent code, one goroutine each, directory
// roots); both groups get a new build; the Cluster's rollout tells the nodes to reinstall a
// few at a time, and while it goes the test samples every node's own phase: never more than
// a group's maxUnavailable down, never both master-eligible nodes down, and one of them up at
// every moment. Every node ends Running the new digest, and the Cluster's rollout is done.
func TestSixSimulatedNodesRollOutANewDeployableWithinTheirBounds(t *testing.T) {
	needAPI(t)
	ns := newNamespace(t)
	rolloutSite(t, ns)
	store, err := repository.Open(context.Background(), filepath.Join(t.TempDir(), "repo"), repository.Options{})
	if err != nil {
		t.Fatal(err)
	}
	first := map[string]*deployable{}
	next := map[string]*deployable{}
	for g := range rolloutGroups {
		first[g] = groupBuild(t, store, ns, g, "1")
		next[g] = groupBuild(t, store, ns, g, "2")
		first[g].publish(t, ns)
	}
	server := startRolloutServer(t, ns, store)

	board := &phaseBoard{phase: map[string]installplan.Phase{}, digest: map[string]string{}}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for _, nodes := range rolloutGroups {
		for _, n := range nodes {
			root := filepath.Join(t.TempDir(), n)
			os.MkdirAll(root, 0o755)
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := simulatedNode(ctx, server, ns, n, root, board, 500*time.Millisecond); err != nil && ctx.Err() == nil {
					errs <- err
				}
			}()
		}
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	allRunning := func(want map[string]*deployable) func() bool {
		return func() bool {
			select {
			case err := <-errs:
				t.Fatal(err)
			default:
			}
			board.mu.Lock()
			defer board.mu.Unlock()
			for g, nodes := range rolloutGroups {
				for _, n := range nodes {
					if board.phase[n] != installplan.PhaseRunning || board.digest[n] != want[g].digest {
						return false
					}
				}
			}
			return true
		}
	}
	eventually(t, 60*time.Second, "six nodes Running the first builds", allRunning(first))

	// The sampler: every node's own phase, continuously, from before the change to the end.
	var (
		sampleMu   sync.Mutex
		violations []string
		samples    int
		maxDown    = map[string]int{}
	)
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stopSampling:
				return
			case <-time.After(2 * time.Millisecond):
			}
			board.mu.Lock()
			down := map[string][]string{}
			mastersUp := 0
			for g, nodes := range rolloutGroups {
				for _, n := range nodes {
					if board.phase[n] != installplan.PhaseRunning {
						down[g] = append(down[g], n+"="+string(board.phase[n]))
					} else if g == "masters" {
						mastersUp++
					}
				}
			}
			board.mu.Unlock()
			sampleMu.Lock()
			samples++
			for g, d := range down {
				maxDown[g] = max(maxDown[g], len(d))
				if len(d) > 2 {
					violations = append(violations, fmt.Sprintf("group %s has %d nodes down (maxUnavailable 2): %v", g, len(d), d))
				}
			}
			if mastersUp == 0 {
				violations = append(violations, fmt.Sprintf("no master-eligible node is up: %v", down["masters"]))
			}
			sampleMu.Unlock()
		}
	}()

	for g := range rolloutGroups {
		republish(t, ns, next[g])
	}
	eventually(t, 120*time.Second, "six nodes Running the new builds", allRunning(next))
	close(stopSampling)
	<-sampled

	sampleMu.Lock()
	if len(violations) > 0 {
		sort.Strings(violations)
		t.Errorf("%d of %d samples broke the rollout's bounds, first: %s", len(violations), samples, strings.Join(violations[:min(5, len(violations))], "; "))
	}
	t.Logf("%d samples; most nodes down at once: %v", samples, maxDown)
	if maxDown["masters"] != 1 {
		t.Errorf("master-eligible nodes down at once: %d; the sampler never saw one reinstall, or saw both", maxDown["masters"])
	}
	sampleMu.Unlock()

	// What the API server holds agrees: every node Running its group's new digest, no rollout
	// left, and Deployed waits only for group dataless (which has no deployable here).
	for g, nodes := range rolloutGroups {
		for _, n := range nodes {
			eventually(t, 30*time.Second, n+" Running the new build in its group's status", func() bool {
				s, _ := groupNode(t, ns, g, n)
				return s.Phase == fcv1.NodeRunning && s.InstalledDigest == next[g].digest
			})
		}
	}
	eventually(t, 30*time.Second, "the Cluster's rollout done", func() bool {
		var cl fcv1.Cluster
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "edge"}, &cl); err != nil {
			t.Fatal(err)
		}
		c := meta.FindStatusCondition(cl.Status.Conditions, fcv1.ConditionDeployed)
		return cl.Status.Rollout == nil && c != nil && c.Status == metav1.ConditionFalse &&
			strings.Contains(c.Message, "2 of 8 nodes do not yet run their group's deployable archive (dataless/dl3, dataless/dl4)")
	})
}
