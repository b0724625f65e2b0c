package agentapi

import (
	"context"
	"fmt"
	"sync"

	"github.com/flarecast/flarecast/internal/installplan"
)

// Memory is a PlanSource and an EventSink held in memory: the plans it is given, and every
// event it takes, in order. It lets a test of either side run the real Handler without an
// install server (the agent's tests), or the install server's logic without a node.
type Memory struct {
	mu     sync.Mutex
	plans  map[NodeRef]installplan.PlanResponse
	errs   map[NodeRef]error
	events []RecordedEvent
}

// RecordedEvent is one event Memory took.
type RecordedEvent struct {
	Node  NodeRef
	From  string
	Event installplan.Event
}

// NewMemory returns an empty Memory.
func NewMemory() *Memory {
	return &Memory{plans: map[NodeRef]installplan.PlanResponse{}, errs: map[NodeRef]error{}}
}

// SetPlan makes node known, with this answer to GET plan.
func (m *Memory) SetPlan(node NodeRef, p installplan.PlanResponse) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.plans[node] = p
	delete(m.errs, node)
}

// SetError makes node known, with err (ErrNotReady, ErrNoPlan…) as the answer to GET plan.
func (m *Memory) SetError(node NodeRef, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.errs[node] = err
	delete(m.plans, node)
}

// Nodes are the nodes Memory knows.
func (m *Memory) Nodes() []NodeRef {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []NodeRef
	for n := range m.plans {
		out = append(out, n)
	}
	for n := range m.errs {
		out = append(out, n)
	}
	return out
}

// Plan answers with the plan or the error set for node; ErrUnknownNode for another.
func (m *Memory) Plan(_ context.Context, node NodeRef) (installplan.PlanResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err, ok := m.errs[node]; ok {
		return installplan.PlanResponse{}, err
	}
	p, ok := m.plans[node]
	if !ok {
		return installplan.PlanResponse{}, fmt.Errorf("node %s: %w", node, ErrUnknownNode)
	}
	return p, nil
}

// Event records the event of a known node; ErrUnknownNode for another.
func (m *Memory) Event(_ context.Context, node NodeRef, from string, ev installplan.Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, planned := m.plans[node]
	_, failing := m.errs[node]
	if !planned && !failing {
		return fmt.Errorf("node %s: %w", node, ErrUnknownNode)
	}
	m.events = append(m.events, RecordedEvent{Node: node, From: from, Event: ev})
	return nil
}

// Events returns the events taken so far.
func (m *Memory) Events() []RecordedEvent {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]RecordedEvent(nil), m.events...)
}
