package dhcp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4/server4"
)

// Mode says whether the server hands out addresses.
type Mode int

const (
	// ModeServer is the site's DHCP server: addresses, network and boot options.
	ModeServer Mode = iota
	// ModeProxy is a proxyDHCP server beside the site's own DHCP server: boot options only, to
	// PXE and HTTP boot clients, on ports 67 and 4011.
	ModeProxy
)

func (m Mode) String() string {
	if m == ModeProxy {
		return "proxy"
	}
	return "server"
}

// Observer hears what the server learns. Its methods are called on the packet path, from
// several goroutines at once, so they must be safe for that and return quickly (queue the work).
type Observer interface {
	// Bound: a relay reported a MAC on a node's switch port (first sight, or a new MAC or port).
	Bound(Binding)
	// Leased: a node's address was acknowledged.
	Leased(Lease)
}

// Config is how a Server runs; the Table says whom it serves.
type Config struct {
	// Interface binds the sockets to one interface (the provisioning network); all when empty.
	Interface string
	// ServerAddr is the server's address on that network: its DHCP server identifier, and the
	// next-server of nodes that name none.
	ServerAddr netip.Addr
	Mode       Mode
	// LeaseFile keeps leases and learned bindings across restarts; none when empty.
	LeaseFile string
	// DeclineHold is how long an address a client declined stays out of service (default 10m).
	DeclineHold time.Duration
	// FlushInterval bounds how long a lease renewal waits to be written (default 1s).
	FlushInterval time.Duration
	Logger        *slog.Logger
	Observer      Observer
}

// receiveBuffer is the socket receive queue asked for: about 8000 requests.
const receiveBuffer = 4 << 20

// Server is the DHCP service. Create it with New, open its sockets with Listen (in the network
// namespace the caller's thread is in), run it with Serve; SetTable may be called at any time.
type Server struct {
	cfg      Config
	log      *slog.Logger
	serverIP net.IP
	table    atomic.Pointer[index]
	st       *store
	now      func() time.Time

	mu    sync.Mutex
	conns map[int]*net.UDPConn
}

// New checks cfg and the first table and loads the lease file.
func New(cfg Config, t *Table) (*Server, error) {
	if !cfg.ServerAddr.Is4() || cfg.ServerAddr.IsUnspecified() {
		return nil, fmt.Errorf("dhcp: server address %q is not an IPv4 unicast address", cfg.ServerAddr)
	}
	if cfg.DeclineHold <= 0 {
		cfg.DeclineHold = 10 * time.Minute
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, serverIP: cfg.ServerAddr.AsSlice(), now: time.Now}
	if err := s.SetTable(t); err != nil {
		return nil, err
	}
	st, err := openStore(cfg.LeaseFile)
	if err != nil {
		return nil, fmt.Errorf("dhcp: %w", err)
	}
	s.st = st
	return s, nil
}

// SetTable replaces the table at once: the next packet sees the new one, none sees a mix, the
// sockets stay open. A table with problems is refused and the old one stays.
func (s *Server) SetTable(t *Table) error {
	ix, err := compile(t)
	if err != nil {
		return err
	}
	s.table.Store(ix)
	s.log.Info("dhcp: table loaded", "nodes", len(ix.byName), "ports", len(ix.byPort)+len(ix.byCircuit))
	return nil
}

// Leases are the leases the server holds, expired ones included until they are replaced.
func (s *Server) Leases() []Lease { l, _ := s.st.snapshot(); return l }

// Bindings are the MACs learned on switch ports, one per node.
func (s *Server) Bindings() []Binding { _, b := s.st.snapshot(); return b }

// Listen opens the sockets: port 67, and 4011 in proxy mode. Sockets belong to the network
// namespace of the calling thread, which lets a test open them inside a namespace it made.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conns != nil {
		return errors.New("dhcp: already listening")
	}
	ports := []int{ServerPort}
	if s.cfg.Mode == ModeProxy {
		ports = append(ports, PXEPort)
	}
	conns := map[int]*net.UDPConn{}
	for _, p := range ports {
		c, err := server4.NewIPv4UDPConn(s.cfg.Interface, &net.UDPAddr{Port: p})
		if err != nil {
			for _, c := range conns {
				c.Close()
			}
			return fmt.Errorf("dhcp: listen on %s port %d: %w", s.cfg.Interface, p, err)
		}
		// A rack powered on at once sends its DISCOVERs in one burst; a deep receive queue
		// holds them while the server is not on a CPU, instead of the kernel dropping them.
		// The kernel caps it at net.core.rmem_max; a smaller queue is no error.
		_ = c.SetReadBuffer(receiveBuffer)
		conns[p] = c
	}
	s.conns = conns
	s.log.Info("dhcp: listening", "interface", s.cfg.Interface, "server", s.cfg.ServerAddr, "mode", s.cfg.Mode, "ports", ports)
	return nil
}

// Serve answers packets until ctx ends, then closes the sockets and writes the lease file.
func (s *Server) Serve(ctx context.Context) error {
	s.mu.Lock()
	listening := s.conns != nil
	s.mu.Unlock()
	if !listening {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	var wg sync.WaitGroup
	// One reader per CPU on each socket: the handler does no I/O but the reply, so more would
	// only contend.
	for port, c := range s.conns {
		for range max(1, runtime.GOMAXPROCS(0)) {
			wg.Go(func() { s.read(c, port) })
		}
	}
	wg.Go(func() { s.flushEvery(ctx) })
	<-ctx.Done()
	for _, c := range s.conns {
		c.Close()
	}
	wg.Wait()
	return s.st.flush()
}

func (s *Server) read(c *net.UDPConn, port int) {
	buf := make([]byte, 1<<16)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Error("dhcp: read", "port", port, "error", err)
			continue
		}
		s.answer(c, buf[:n], from, port)
	}
}

// answer handles one packet; a panic in it costs that packet only, so one crafted packet cannot
// stop the service for the rest of the site.
func (s *Server) answer(c *net.UDPConn, pkt []byte, from netip.AddrPort, port int) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("dhcp: handler panicked, packet dropped", "from", from, "panic", p)
		}
	}()
	reply, to, ok := s.handle(pkt, netip.AddrPortFrom(from.Addr().Unmap(), from.Port()), port)
	if !ok {
		return
	}
	if _, err := c.WriteToUDPAddrPort(reply, to); err != nil {
		s.log.Warn("dhcp: send reply", "to", to, "error", err)
	}
}

func (s *Server) flushEvery(ctx context.Context) {
	t := time.NewTicker(s.cfg.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.st.flush(); err != nil {
				s.log.Error("dhcp: leases not saved", "error", err)
			}
		}
	}
}
