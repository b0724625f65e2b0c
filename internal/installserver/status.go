package installserver

import (
	"context"
	"fmt"
	"maps"
	"net"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/internal/agentapi"
	"github.com/flarecast/flarecast/internal/installplan"
)

// FieldOwner is the field manager of the install server's writes: the node entries' phase,
// address, step, percent, message, installed digest and transition time, nothing else. The
// controllers write the same entries' problems and the rest of the status under their own.
const FieldOwner = "flarecast-installserver"

// Bounds of the status fields (the CRD's).
const (
	maxMessage = 4096
	maxStep    = 256
)

// Status records what nodes report in their NodesGroup's status.nodes, with server-side
// apply, and emits an event on each phase change once it is stored.
//
// Server-side apply takes the fields of one apply as everything its manager owns in the
// object: an apply that named only the reporting node would drop what it wrote for the
// group's other nodes. So Status keeps, per group, its own entries (read back from the API
// server on first use) and applies all of them each time, one write at a time per group.
type Status struct {
	Client client.Client
	// APIReader reads the group when first met (not the cache: it may lag our own writes).
	APIReader client.Reader
	Recorder  recorder.EventRecorder
	Site      func() *Site
	Now       func() time.Time

	mu     sync.Mutex
	groups map[types.NamespacedName]*groupEntries
}

type groupEntries struct {
	mu     sync.Mutex
	seeded bool
	nodes  map[string]fcv1.NodeStatus // only the fields FieldOwner writes
}

var _ agentapi.EventSink = (*Status)(nil)

// Event implements agentapi.EventSink.
func (s *Status) Event(ctx context.Context, ref agentapi.NodeRef, from string, ev installplan.Event) error {
	n, ok := s.Site().Node(ref)
	if !ok {
		return fmt.Errorf("node %s is not served by this install server: %w", ref, agentapi.ErrUnknownNode)
	}
	err := s.update(ctx, n, func(st *fcv1.NodeStatus) bool {
		st.Phase = fcv1.NodePhase(ev.Phase)
		st.Address = addressOf(from, n)
		st.Step = truncate(ev.Step, maxStep)
		st.Percent = ev.Percent
		st.Message = truncate(message(ev), maxMessage)
		if ev.InstalledDigest != "" {
			st.InstalledDigest = ev.InstalledDigest
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("record the report of node %s in NodesGroup %s: %w", ref.Node, n.Group, err)
	}
	return nil
}

// Leased records that a node got its address from the DHCP server: its address, and phase
// Booting when nothing was recorded of it yet (a node the agent already reports on keeps the
// agent's phase; a renewal of a running node changes nothing, and writes nothing).
func (s *Status) Leased(ctx context.Context, n *NodeInfo, addr string) error {
	return s.update(ctx, n, func(st *fcv1.NodeStatus) bool {
		changed := st.Address != addr
		st.Address = addr
		if st.Phase == "" {
			st.Phase, st.Message, changed = fcv1.NodeBooting, "leased "+addr+" by DHCP", true
		}
		return changed
	})
}

// update changes a node's entry with change (which says whether it changed anything) and
// applies the group's entries; an event follows a phase change once it is stored.
func (s *Status) update(ctx context.Context, n *NodeInfo, change func(*fcv1.NodeStatus) bool) error {
	key := types.NamespacedName{Namespace: n.Ref.Namespace, Name: n.Group}
	g := s.group(key)
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := s.seed(ctx, key, g); err != nil {
		return err
	}
	prev := g.nodes[n.Ref.Node]
	next := prev
	next.Name = n.Ref.Node
	if !change(&next) {
		return nil
	}
	moved := prev.Phase != next.Phase
	if moved || next.LastTransitionTime == nil {
		t := metav1.NewTime(s.now().Truncate(time.Second))
		next.LastTransitionTime = &t
	}
	nodes := maps.Clone(g.nodes)
	nodes[n.Ref.Node] = next
	if err := s.apply(ctx, key, nodes); err != nil {
		return err
	}
	g.nodes = nodes
	if moved && s.Recorder != nil {
		s.announce(key, n.Ref.Node, prev.Phase, next)
	}
	return nil
}

// Installed is the digest a node last reported it runs.
func (s *Status) Installed(ctx context.Context, namespace, group, node string) string {
	key := types.NamespacedName{Namespace: namespace, Name: group}
	g := s.group(key)
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := s.seed(ctx, key, g); err != nil {
		return ""
	}
	return g.nodes[node].InstalledDigest
}

func (s *Status) group(key types.NamespacedName) *groupEntries {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.groups == nil {
		s.groups = map[types.NamespacedName]*groupEntries{}
	}
	g, ok := s.groups[key]
	if !ok {
		g = &groupEntries{nodes: map[string]fcv1.NodeStatus{}}
		s.groups[key] = g
	}
	return g
}

// seed reads back the entries an earlier run of the install server wrote (those with a
// phase: only the install server sets one), so that its first apply keeps them.
func (s *Status) seed(ctx context.Context, key types.NamespacedName, g *groupEntries) error {
	if g.seeded {
		return nil
	}
	var ng fcv1.NodesGroup
	if err := s.APIReader.Get(ctx, key, &ng); err != nil {
		return fmt.Errorf("read NodesGroup %s: %w", key, err)
	}
	for _, e := range ng.Status.Nodes {
		if e.Phase == "" {
			continue
		}
		g.nodes[e.Name] = fcv1.NodeStatus{Name: e.Name, Phase: e.Phase, Address: e.Address, Step: e.Step, Percent: e.Percent,
			Message: e.Message, InstalledDigest: e.InstalledDigest, LastTransitionTime: e.LastTransitionTime}
	}
	g.seeded = true
	return nil
}

func (s *Status) apply(ctx context.Context, key types.NamespacedName, nodes map[string]fcv1.NodeStatus) error {
	list := make([]any, 0, len(nodes))
	for _, name := range slices.Sorted(maps.Keys(nodes)) {
		e := nodes[name]
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&e)
		if err != nil {
			return fmt.Errorf("convert the entry of node %s: %w", name, err)
		}
		list = append(list, m)
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(fcv1.GroupVersion.WithKind("NodesGroup"))
	u.SetNamespace(key.Namespace)
	u.SetName(key.Name)
	u.Object["status"] = map[string]any{"nodes": list}
	return s.Client.Status().Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldOwner), client.ForceOwnership)
}

// announce emits the event of a phase change, after the status that records it is saved.
func (s *Status) announce(key types.NamespacedName, node string, from fcv1.NodePhase, st fcv1.NodeStatus) {
	typ := "Normal"
	if st.Phase == fcv1.NodeFailed {
		typ = "Warning"
	}
	was := string(from)
	if was == "" {
		was = "none"
	}
	ng := &fcv1.NodesGroup{}
	ng.SetNamespace(key.Namespace)
	ng.SetName(key.Name)
	ng.SetGroupVersionKind(fcv1.GroupVersion.WithKind("NodesGroup"))
	note := fmt.Sprintf("node %s: %s -> %s", node, was, st.Phase)
	if st.Message != "" {
		note += ": " + truncate(st.Message, 512)
	}
	s.Recorder.Eventf(ng, nil, typ, "Node"+string(st.Phase), "NodeReport", "%s", note)
}

func (s *Status) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// addressOf is the node's address as its report came from; the model's when that does not
// parse (a proxy in between, say).
func addressOf(from string, n *NodeInfo) string {
	host, _, err := net.SplitHostPort(from)
	if ip := net.ParseIP(host); err == nil && ip.To4() != nil {
		return ip.To4().String()
	}
	return n.Address.Addr().String()
}

// message is what the status says of an event: the agent's message, or its step.
func message(ev installplan.Event) string {
	switch {
	case ev.Message != "":
		return ev.Message
	case ev.ExitCode != nil:
		return fmt.Sprintf("%s exited %d: %s", ev.Step, *ev.ExitCode, ev.Output)
	case ev.Total > 0:
		return fmt.Sprintf("%s: %d of %d bytes", ev.Step, ev.Bytes, ev.Total)
	}
	return ev.Step
}

// truncate cuts s to at most n bytes, on a character boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
