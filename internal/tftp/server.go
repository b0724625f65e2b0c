package tftp

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/go-logr/logr"
)

// readBuffer is how much of a file is read at once: four of the largest blocks, about 180
// of the usual 1432-byte ones.
const readBuffer = 256 << 10

// errWriteRefused is what a client that tries to upload reads in the ERROR packet.
var errWriteRefused = errors.New("read-only server: write requests are refused")

// Defaults of Options.
const (
	DefaultTimeout = 5 * time.Second
	DefaultRetries = 5
)

// Options configures a Server. Dir is required.
type Options struct {
	// Dir is the boot directory; every served file is a regular file under it.
	Dir string
	// Log receives one line per transfer and per refusal.
	Log logr.Logger
	// Timeout is how long a block waits for its ACK before it is sent again (default 5s); a
	// client's timeout option (RFC 2349) replaces it for its transfer.
	Timeout time.Duration
	// Retries is how many times in a row a block is sent again before the transfer is given
	// up (default 5).
	Retries int
	// MaxBlockSize caps a negotiated blksize below what the interface MTU allows (0: MTU only).
	MaxBlockSize int
}

// Server is a read-only TFTP server over one boot directory.
type Server struct {
	dir     string
	root    *os.Root
	log     logr.Logger
	timeout time.Duration
	retries int
	maxBlk  int
	wg      sync.WaitGroup
}

// New opens the boot directory and prepares a server; Serve starts it.
func New(o Options) (*Server, error) {
	if o.Dir == "" {
		return nil, errors.New("tftp: no boot directory given")
	}
	root, err := os.OpenRoot(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("tftp: open boot directory: %w", err)
	}
	s := &Server{dir: o.Dir, root: root, log: o.Log, timeout: o.Timeout, retries: o.Retries, maxBlk: maxBlockSize}
	if s.timeout <= 0 {
		s.timeout = DefaultTimeout
	}
	if s.retries <= 0 {
		s.retries = DefaultRetries
	}
	if o.MaxBlockSize > 0 {
		s.maxBlk = min(o.MaxBlockSize, maxBlockSize)
	}
	return s, nil
}

// Serve answers requests on conn until ctx is done, then waits for the transfers in flight
// (each ends at the latest after its retries run out) and closes conn. Each transfer runs on
// a UDP socket of its own, connected to its client (its TID): the kernel then filters the
// client's packets for it and sends without a route lookup per block.
func (s *Server) Serve(ctx context.Context, conn net.PacketConn) error {
	s.log.Info("serving TFTP", "address", conn.LocalAddr().String(), "dir", s.dir)
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	local, _ := netip.ParseAddrPort(conn.LocalAddr().String())
	buf := make([]byte, 1500)
	var err error
	for {
		var n int
		var from net.Addr
		n, from, err = conn.ReadFrom(buf)
		if err != nil {
			break
		}
		client, ok := from.(*net.UDPAddr)
		if !ok {
			continue
		}
		s.request(ctx, conn, local.Addr(), client, append([]byte(nil), buf[:n]...))
	}
	s.wg.Wait()
	s.root.Close()
	if ctx.Err() == nil {
		return fmt.Errorf("tftp: serve on %s: %w", conn.LocalAddr(), err)
	}
	return nil
}

// ListenAndServe listens on the UDP address addr (host:port; TFTP's port is 69) and serves.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	conn, err := net.ListenPacket("udp", addr)
	if err != nil {
		return fmt.Errorf("tftp: listen on %s: %w", addr, err)
	}
	return s.Serve(ctx, conn)
}

// request handles one packet that came to the server's port.
func (s *Server) request(ctx context.Context, conn net.PacketConn, local netip.Addr, client *net.UDPAddr, p []byte) {
	if len(p) < 2 {
		s.log.Info("bad request packet ignored", "client", client.String(), "error", "shorter than an opcode")
		return
	}
	switch op := binary.BigEndian.Uint16(p); op {
	case opRRQ:
	case opWRQ:
		file := ""
		if req, err := parseRequest(p[2:]); err == nil {
			file = req.file
		}
		s.log.Info("write request refused", "file", file, "client", client.String())
		conn.WriteTo(errorPacket(errAccess, errWriteRefused.Error()), client)
		return
	default:
		// DATA, ACK or ERROR to the server's port belong to no transfer; answering them
		// would answer spoofed traffic.
		s.log.Info("bad request packet ignored", "client", client.String(), "error", fmt.Sprintf("opcode %d is not a request", op))
		return
	}
	req, err := parseRequest(p[2:])
	if err != nil {
		s.log.Info("bad request packet ignored", "client", client.String(), "error", err.Error())
		conn.WriteTo(errorPacket(errIllegalOp, err.Error()), client)
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.transfer(ctx, local, client, req)
	}()
}

func (s *Server) transfer(ctx context.Context, local netip.Addr, client *net.UDPAddr, req request) {
	laddr := &net.UDPAddr{}
	if local.IsValid() && !local.IsUnspecified() {
		laddr.IP = local.AsSlice()
	}
	conn, err := net.DialUDP("udp", laddr, client)
	if err != nil {
		s.log.Info("transfer failed", "file", req.file, "client", client.String(), "error", err.Error())
		return
	}
	defer conn.Close()
	// A stopping server ends its transfers at the next wait for an ACK.
	stop := context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Now()) })
	defer stop()
	start := time.Now()
	f, err := open(s.root, req.file)
	if err != nil {
		reason, code := "refused", uint16(errAccess)
		if errors.Is(err, fs.ErrNotExist) {
			reason, code = "not found", errNotFound
		}
		s.log.Info("read request "+reason, "file", req.file, "client", client.String(), "error", err.Error())
		conn.Write(errorPacket(code, err.Error()))
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		conn.Write(errorPacket(errNotDefined, "cannot read the file"))
		return
	}
	maxBlk := s.maxBlk
	if l, ok := netip.AddrFromSlice(conn.LocalAddr().(*net.UDPAddr).IP); ok {
		if mtu := mtuOf(l); mtu > headerBytes {
			// No block larger than the interface carries unfragmented.
			maxBlk = min(maxBlk, mtu-headerBytes)
		}
	}
	var src io.Reader = f
	size := fi.Size()
	if req.mode == "netascii" {
		// The size on the wire is not the file's: tsize is not answered.
		src, size = &netasciiReader{r: bufio.NewReaderSize(f, readBuffer)}, -1
	}
	n := negotiate(req.options, size, maxBlk, s.timeout)
	res, err := send(ctx, conn, src, n, s.retries)
	if err != nil {
		var ec *errClient
		if !errors.As(err, &ec) {
			conn.Write(errorPacket(errNotDefined, "transfer stopped: "+err.Error()))
		}
		s.log.Info("transfer failed", "file", req.file, "client", client.String(), "error", err.Error(),
			"bytes", res.bytes, "duration", time.Since(start).String())
		return
	}
	s.log.Info("sent file", "file", req.file, "client", client.String(), "bytes", res.bytes, "options", optionMap(res.opts),
		"resent", res.resent, "duration", time.Since(start).String())
}

func optionMap(opts [][2]string) map[string]string {
	m := map[string]string{}
	for _, o := range opts {
		m[o[0]] = o[1]
	}
	return m
}
