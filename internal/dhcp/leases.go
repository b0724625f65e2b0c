package dhcp

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/flarecast/flarecast/internal/atomicfile"
)

// Lease is an address acknowledged to a client.
type Lease struct {
	Node    string
	MAC     net.HardwareAddr
	Address netip.Addr
	Expires time.Time
}

// Binding is a MAC seen on a switch port: the node cabled to the port has that MAC. It lets a
// node that the model knows only by its cabling renew without a relay in the path, and it is
// what the install server reports as the node's MAC.
type Binding struct {
	Node      string
	MAC       net.HardwareAddr
	CircuitID string
	RemoteID  string
	Seen      time.Time
}

// leaseFileVersion is bumped when the file's shape changes incompatibly.
const leaseFileVersion = 1

type leaseFile struct {
	Version  int            `json:"version"`
	Leases   []fileLease    `json:"leases"`
	Bindings []fileBinding  `json:"bindings"`
	Declined []fileDeclined `json:"declined,omitempty"`
}

type fileLease struct {
	Node    string     `json:"node"`
	MAC     string     `json:"mac"`
	Address netip.Addr `json:"address"`
	Expires time.Time  `json:"expires"`
}

type fileBinding struct {
	Node      string    `json:"node"`
	MAC       string    `json:"mac"`
	CircuitID string    `json:"circuitID"`
	RemoteID  string    `json:"remoteID,omitempty"`
	Seen      time.Time `json:"seen"`
}

type fileDeclined struct {
	Address netip.Addr `json:"address"`
	Until   time.Time  `json:"until"`
}

// store holds leases, bindings and declined addresses, and keeps the lease file. A new or moved
// binding is written before the reply that depends on it leaves; lease renewals are written at
// most once per flush interval, because the address itself comes from the table and a lost
// renewal only shortens how long the server guards an address against another node.
type store struct {
	path string

	mu       sync.Mutex
	leases   map[netip.Addr]*Lease
	bindings map[string]*Binding // by node
	byMAC    map[string]string   // MAC bytes -> node, from bindings
	declined map[netip.Addr]time.Time
	changes  uint64

	wmu     sync.Mutex // one writer of the file at a time
	written uint64     // changes already in the file; under wmu
}

func openStore(path string) (*store, error) {
	st := &store{
		path:     path,
		leases:   map[netip.Addr]*Lease{},
		bindings: map[string]*Binding{},
		byMAC:    map[string]string{},
		declined: map[netip.Addr]time.Time{},
	}
	if path == "" {
		return st, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read lease file: %w", err)
	}
	// A lease file that does not parse is refused rather than replaced: starting empty would
	// forget the MACs learned on switch ports.
	var f leaseFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("lease file %s is corrupt (move it away to start without leases): %w", path, err)
	}
	if f.Version != leaseFileVersion {
		return nil, fmt.Errorf("lease file %s has version %d, this server reads %d", path, f.Version, leaseFileVersion)
	}
	for _, l := range f.Leases {
		mac, err := net.ParseMAC(l.MAC)
		if err != nil || !l.Address.Is4() {
			return nil, fmt.Errorf("lease file %s: lease of node %q is corrupt", path, l.Node)
		}
		st.leases[l.Address] = &Lease{Node: l.Node, MAC: mac, Address: l.Address, Expires: l.Expires}
	}
	for _, b := range f.Bindings {
		mac, err := net.ParseMAC(b.MAC)
		if err != nil {
			return nil, fmt.Errorf("lease file %s: binding of node %q is corrupt", path, b.Node)
		}
		st.bindings[b.Node] = &Binding{Node: b.Node, MAC: mac, CircuitID: b.CircuitID, RemoteID: b.RemoteID, Seen: b.Seen}
		st.byMAC[string(mac)] = b.Node
	}
	for _, d := range f.Declined {
		st.declined[d.Address] = d.Until
	}
	return st, nil
}

// boundNode is the node whose switch port last showed mac, if any.
func (st *store) boundNode(mac net.HardwareAddr) (string, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	n, ok := st.byMAC[string(mac)]
	return n, ok
}

// bind records that mac was seen on the port of node. It reports whether that is news (a first
// sight, another MAC or another port), which the caller must make durable before answering.
func (st *store) bind(node string, mac net.HardwareAddr, circuit, remote string, now time.Time) (Binding, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	b := st.bindings[node]
	if b != nil && slices.Equal(b.MAC, mac) && b.CircuitID == circuit && b.RemoteID == remote {
		return *b, false
	}
	if b != nil {
		delete(st.byMAC, string(b.MAC))
	}
	// A MAC moved to another node's port is no longer the old node's.
	if old, ok := st.byMAC[string(mac)]; ok && old != node {
		delete(st.bindings, old)
	}
	nb := &Binding{Node: node, MAC: slices.Clone(mac), CircuitID: circuit, RemoteID: remote, Seen: now}
	st.bindings[node] = nb
	st.byMAC[string(mac)] = node
	st.changes++
	return *nb, true
}

// holder is the unexpired lease on addr held by another node than node, if any.
func (st *store) holder(addr netip.Addr, node string, now time.Time) (Lease, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	l := st.leases[addr]
	if l == nil || l.Node == node || !now.Before(l.Expires) {
		return Lease{}, false
	}
	return *l, true
}

func (st *store) declinedUntil(addr netip.Addr, now time.Time) (time.Time, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	until, ok := st.declined[addr]
	if ok && !now.Before(until) {
		delete(st.declined, addr)
		st.changes++
		return time.Time{}, false
	}
	return until, ok
}

func (st *store) grant(l Lease) {
	st.mu.Lock()
	defer st.mu.Unlock()
	l.MAC = slices.Clone(l.MAC)
	st.leases[l.Address] = &l
	st.changes++
}

// release ends the lease on addr if mac holds it.
func (st *store) release(addr netip.Addr, mac net.HardwareAddr) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	l := st.leases[addr]
	if l == nil || !slices.Equal(l.MAC, mac) {
		return false
	}
	delete(st.leases, addr)
	st.changes++
	return true
}

func (st *store) decline(addr netip.Addr, until time.Time) {
	st.mu.Lock()
	defer st.mu.Unlock()
	delete(st.leases, addr)
	st.declined[addr] = until
	st.changes++
}

func (st *store) snapshot() (leases []Lease, bindings []Binding) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, l := range st.leases {
		leases = append(leases, *l)
	}
	for _, b := range st.bindings {
		bindings = append(bindings, *b)
	}
	slices.SortFunc(leases, func(a, b Lease) int { return a.Address.Compare(b.Address) })
	slices.SortFunc(bindings, func(a, b Binding) int { return strings.Compare(a.Node, b.Node) })
	return leases, bindings
}

// flush writes the lease file if anything changed since the last write.
func (st *store) flush() error {
	if st.path == "" {
		return nil
	}
	st.wmu.Lock()
	defer st.wmu.Unlock()
	st.mu.Lock()
	changes := st.changes
	if changes == st.written {
		st.mu.Unlock()
		return nil
	}
	f := leaseFile{Version: leaseFileVersion, Leases: []fileLease{}, Bindings: []fileBinding{}}
	for _, l := range st.leases {
		f.Leases = append(f.Leases, fileLease{Node: l.Node, MAC: l.MAC.String(), Address: l.Address, Expires: l.Expires.UTC()})
	}
	for _, b := range st.bindings {
		f.Bindings = append(f.Bindings, fileBinding{Node: b.Node, MAC: b.MAC.String(), CircuitID: b.CircuitID, RemoteID: b.RemoteID, Seen: b.Seen.UTC()})
	}
	for a, until := range st.declined {
		f.Declined = append(f.Declined, fileDeclined{Address: a, Until: until.UTC()})
	}
	st.mu.Unlock()
	slices.SortFunc(f.Leases, func(a, b fileLease) int { return a.Address.Compare(b.Address) })
	slices.SortFunc(f.Bindings, func(a, b fileBinding) int { return strings.Compare(a.Node, b.Node) })
	slices.SortFunc(f.Declined, func(a, b fileDeclined) int { return a.Address.Compare(b.Address) })
	err := atomicfile.Write(st.path, 0o600, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", " ")
		return enc.Encode(f)
	})
	if err != nil {
		return fmt.Errorf("save leases: %w", err)
	}
	st.written = changes
	return nil
}
