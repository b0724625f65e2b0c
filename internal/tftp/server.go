package tftp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"sync"
	"time"

	"github.com/go-logr/logr"
	ptftp "github.com/pin/tftp/v3"
)

// readBuffer is how much of a file is read at once: four of the largest blocks, about 180
// of the usual 1432-byte ones.
const readBuffer = 256 << 10

// errWriteRefused is what a client that tries to upload reads in the ERROR packet.
var errWriteRefused = errors.New("read-only server: write requests are refused")

// Options configures a Server. Dir is required; the zero value of the rest is the library's
// defaults.
type Options struct {
	// Dir is the boot directory; every served file is a regular file under it.
	Dir string
	// Log receives one line per transfer and per refusal.
	Log logr.Logger
	// Timeout is how long a block waits for its ACK before it is sent again (default 5s).
	Timeout time.Duration
	// Retries is how many times a block is sent again before the transfer is given up (default 5).
	Retries int
	// MaxBlockSize caps a negotiated blksize below what the interface MTU allows (0: MTU only).
	MaxBlockSize int
}

// Server is a read-only TFTP server over one boot directory.
type Server struct {
	dir  string
	root *os.Root
	log  logr.Logger
	srv  *ptftp.Server
	// negotiated carries each finished transfer's options from the library's success hook
	// (which knows them) to the read handler (which knows the byte count), for one log line.
	negotiated sync.Map // transferKey -> transferStats
}

type transferStats struct {
	options map[string]string
	// resent counts blocks sent more than once: lost blocks or ACKs, or a slow client.
	resent int
}

type transferKey struct {
	client string // ip:port
	file   string
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
	s := &Server{dir: o.Dir, root: root, log: o.Log}
	s.srv = ptftp.NewServer(s.read, s.write)
	s.srv.SetHook(hook{s})
	if o.Timeout > 0 {
		s.srv.SetTimeout(o.Timeout)
	}
	if o.Retries > 0 {
		s.srv.SetRetries(o.Retries)
	}
	if o.MaxBlockSize > 0 {
		s.srv.SetBlockSize(o.MaxBlockSize)
	}
	return s, nil
}

// Serve answers requests on conn until ctx is done, then waits for the transfers in flight
// (each ends at the latest after its retries run out) and closes conn.
func (s *Server) Serve(ctx context.Context, conn net.PacketConn) error {
	s.log.Info("serving TFTP", "address", conn.LocalAddr().String(), "dir", s.dir)
	stop := context.AfterFunc(ctx, s.srv.Shutdown)
	defer stop()
	err := s.srv.Serve(conn)
	s.root.Close()
	if err != nil && ctx.Err() == nil {
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

func (s *Server) read(name string, rf io.ReaderFrom) error {
	client := remote(rf)
	f, err := open(s.root, name)
	if err != nil {
		reason := "refused"
		if errors.Is(err, fs.ErrNotExist) {
			reason = "not found"
		}
		s.log.Info("read request "+reason, "file", name, "client", client, "error", err.Error())
		return err
	}
	defer f.Close()
	start := time.Now()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if t, ok := rf.(ptftp.OutgoingTransfer); ok {
		// The buffered reader below hides the file's Seek, from which the library would
		// learn the size for tsize.
		t.SetSize(fi.Size())
	}
	// The library reads one block per call: unbuffered, that is a read(2) per block, a tenth
	// of the server's CPU time in the P4 profile.
	n, err := rf.ReadFrom(bufio.NewReaderSize(f, readBuffer))
	key := transferKey{client, name}
	v, _ := s.negotiated.LoadAndDelete(key)
	if err != nil {
		// The hook has logged the failure.
		return err
	}
	st, _ := v.(transferStats)
	s.log.Info("sent file", "file", name, "client", client, "bytes", n, "options", st.options,
		"resent", st.resent, "duration", time.Since(start).String())
	return nil
}

func (s *Server) write(name string, wt io.WriterTo) error {
	client := ""
	if t, ok := wt.(ptftp.IncomingTransfer); ok {
		a := t.RemoteAddr()
		client = a.String()
	}
	s.log.Info("write request refused", "file", name, "client", client)
	return errWriteRefused
}

func remote(rf io.ReaderFrom) string {
	if t, ok := rf.(ptftp.OutgoingTransfer); ok {
		a := t.RemoteAddr()
		return a.String()
	}
	return ""
}

// hook hands the negotiated options of a finished transfer to the read handler, and logs
// failures the read handler did not already explain (timeouts, client errors, bad packets).
type hook struct{ s *Server }

func (h hook) OnSuccess(st ptftp.TransferStats) {
	a := net.UDPAddr{IP: st.RemoteAddr, Port: st.Tid}
	h.s.negotiated.Store(transferKey{a.String(), st.Filename},
		transferStats{options: map[string]string(st.Opts), resent: st.DatagramsSent - st.DatagramsAcked})
}

func (h hook) OnFailure(st ptftp.TransferStats, err error) {
	if errors.Is(err, ErrRefused) || errors.Is(err, fs.ErrNotExist) || errors.Is(err, errWriteRefused) {
		return
	}
	if st.Filename == "" {
		h.s.log.Info("bad request packet ignored", "error", err.Error())
		return
	}
	h.s.log.Info("transfer failed", "file", st.Filename, "client", st.RemoteAddr.String(), "error", err.Error(),
		"duration", st.Duration.String())
}
