package tftp

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// TFTP opcodes (RFC 1350, 2347).
const (
	opRRQ   = 1
	opWRQ   = 2
	opDATA  = 3
	opACK   = 4
	opERROR = 5
	opOACK  = 6
)

// TFTP error codes.
const (
	errNotDefined = 0
	errNotFound   = 1
	errAccess     = 2
	errIllegalOp  = 4
)

// Bounds of the negotiated options.
const (
	defaultBlockSize = 512
	minBlockSize     = 8
	maxBlockSize     = 65464
	// maxWindow bounds windowsize (RFC 7440): what a client may make the server hold and
	// send before an ACK.
	maxWindow = 64
	// headerBytes is what IPv4, UDP and the TFTP DATA header take of the MTU.
	headerBytes = 20 + 8 + 4
)

// request is a parsed read request.
type request struct {
	file string
	mode string
	// options are the client's, lower-cased names, in the order asked.
	options [][2]string
}

var errMalformed = errors.New("malformed request")

// parseRequest parses an RRQ or WRQ body (after the opcode): file, mode, then option pairs,
// each NUL-terminated. Anything else is malformed.
func parseRequest(b []byte) (request, error) {
	var fields []string
	for len(b) > 0 {
		i := indexNUL(b)
		if i < 0 {
			return request{}, fmt.Errorf("%w: a field is not NUL-terminated", errMalformed)
		}
		fields = append(fields, string(b[:i]))
		b = b[i+1:]
	}
	if len(fields) < 2 || len(fields)%2 != 0 {
		return request{}, fmt.Errorf("%w: want file, mode and option pairs, got %d fields", errMalformed, len(fields))
	}
	r := request{file: fields[0], mode: strings.ToLower(fields[1])}
	if r.mode != "octet" && r.mode != "netascii" {
		return request{}, fmt.Errorf("%w: mode %q (want octet or netascii)", errMalformed, fields[1])
	}
	for i := 2; i < len(fields); i += 2 {
		r.options = append(r.options, [2]string{strings.ToLower(fields[i]), fields[i+1]})
	}
	return r, nil
}

func indexNUL(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return -1
}

// negotiated is what a transfer runs with.
type negotiated struct {
	blockSize int
	window    int
	timeout   time.Duration
	// oack are the options the server accepts, as it answers them; empty: no OACK.
	oack [][2]string
}

// negotiate accepts what the server supports of the client's options (RFC 2347: unknown
// ones are left out of the OACK), within the bounds: blksize at most maxBlock, windowsize
// at most maxWindow, timeout 1 to 255 seconds, tsize answered with the file's size.
func negotiate(opts [][2]string, size int64, maxBlock int, timeout time.Duration) negotiated {
	n := negotiated{blockSize: defaultBlockSize, window: 1, timeout: timeout}
	for _, o := range opts {
		v, err := strconv.Atoi(o[1])
		if err != nil {
			continue
		}
		switch o[0] {
		case "blksize":
			if v < minBlockSize {
				continue
			}
			n.blockSize = min(v, maxBlock)
			n.oack = append(n.oack, [2]string{"blksize", strconv.Itoa(n.blockSize)})
		case "windowsize":
			if v < 1 {
				continue
			}
			n.window = min(v, maxWindow)
			n.oack = append(n.oack, [2]string{"windowsize", strconv.Itoa(n.window)})
		case "timeout":
			if v < 1 || v > 255 {
				continue
			}
			n.timeout = time.Duration(v) * time.Second
			n.oack = append(n.oack, [2]string{"timeout", o[1]})
		case "tsize":
			if v != 0 || size < 0 {
				continue
			}
			n.oack = append(n.oack, [2]string{"tsize", strconv.FormatInt(size, 10)})
		}
	}
	return n
}

func errorPacket(code uint16, msg string) []byte {
	p := make([]byte, 4, 5+len(msg))
	binary.BigEndian.PutUint16(p, opERROR)
	binary.BigEndian.PutUint16(p[2:], code)
	return append(append(p, msg...), 0)
}

func oackPacket(opts [][2]string) []byte {
	p := []byte{0, opOACK}
	for _, o := range opts {
		p = append(append(append(append(p, o[0]...), 0), o[1]...), 0)
	}
	return p
}

// packetConn is a socket connected to the client.
type packetConn interface {
	Write([]byte) (int, error)
	Read([]byte) (int, error)
	SetReadDeadline(time.Time) error
}

// transferResult is what a transfer did, for its log line.
type transferResult struct {
	bytes  int64
	blocks int64
	resent int64
	opts   [][2]string
}

// errClient marks a transfer the client ended (an ERROR packet).
type errClient struct {
	code uint16
	msg  string
}

func (e *errClient) Error() string { return fmt.Sprintf("the client sent error %d: %s", e.code, e.msg) }

// send runs one read transfer on conn, a UDP socket connected to the client: the optional
// OACK, then the file in blocks, window blocks before each ACK, every unacknowledged block
// sent again when its ACK does not come within the timeout, up to retries times in a row.
// Block numbers roll over from 65535 to 0, so files of any size go with any block size.
func send(ctx context.Context, conn packetConn, src io.Reader, n negotiated, retries int) (transferResult, error) {
	res := transferResult{opts: n.oack}
	ack := make([]byte, 1500)
	// await waits for the ACK of a block in [lo, hi] (16-bit numbers, wrapping) and returns
	// how many blocks from lo it acknowledges (1 for lo itself); 0 on timeout.
	await := func(lo uint16, span int) (int, error) {
		deadline := time.Now().Add(n.timeout)
		for {
			conn.SetReadDeadline(deadline)
			m, err := conn.Read(ack)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					if ctx.Err() != nil {
						return 0, fmt.Errorf("the server is stopping: %w", ctx.Err())
					}
					return 0, nil
				}
				return 0, err
			}
			if m < 4 {
				continue
			}
			switch binary.BigEndian.Uint16(ack) {
			case opACK:
				got := binary.BigEndian.Uint16(ack[2:]) - lo // wraps
				if int(got) < span {
					return int(got) + 1, nil
				}
				// An older block's ACK (a duplicate, or one the window already passed):
				// answering it would be the Sorcerer's Apprentice; wait for a useful one.
			case opERROR:
				msg := ""
				if i := indexNUL(ack[4:m]); i >= 0 {
					msg = string(ack[4 : 4+i])
				}
				return 0, &errClient{code: binary.BigEndian.Uint16(ack[2:]), msg: msg}
			}
		}
	}
	if len(n.oack) > 0 {
		p := oackPacket(n.oack)
		for try := 0; ; try++ {
			if try > retries {
				return res, fmt.Errorf("no ACK of the options after %d tries", try)
			}
			if _, err := conn.Write(p); err != nil {
				return res, err
			}
			got, err := await(0, 1)
			if err != nil {
				return res, err
			}
			if got == 1 {
				break
			}
		}
	}

	// The window's packets, each with its DATA header, reused for every window.
	packets := make([][]byte, n.window)
	for i := range packets {
		packets[i] = make([]byte, 4+n.blockSize)
	}
	r := bufio.NewReaderSize(src, max(readBuffer, n.blockSize))
	var next uint16 = 1 // the number of the first block of the window
	ended := false
	for !ended {
		// Fill the window.
		var filled []int // payload lengths
		for i := 0; i < n.window && !ended; i++ {
			p := packets[i]
			binary.BigEndian.PutUint16(p, opDATA)
			binary.BigEndian.PutUint16(p[2:], next+uint16(i))
			m, err := io.ReadFull(r, p[4:])
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				ended, err = true, nil
			}
			if err != nil {
				return res, fmt.Errorf("read the file: %w", err)
			}
			filled = append(filled, m)
		}
		sent, written := 0, 0 // blocks of the window acknowledged, and sent at least once
		for try := 0; sent < len(filled); {
			if try > retries {
				return res, fmt.Errorf("no ACK of block %d after %d tries", next+uint16(sent), try)
			}
			for i := sent; i < len(filled); i++ {
				if _, err := conn.Write(packets[i][:4+filled[i]]); err != nil {
					return res, err
				}
				if i < written {
					res.resent++
				}
			}
			written = len(filled)
			got, err := await(next+uint16(sent), len(filled)-sent)
			if err != nil {
				return res, err
			}
			if got == 0 {
				try++
				continue
			}
			sent += got
			try = 0
		}
		for _, m := range filled {
			res.bytes += int64(m)
		}
		res.blocks += int64(len(filled))
		next += uint16(len(filled))
		// A last window that fills exactly: RFC 1350 ends a transfer with a short block,
		// so one of 0 bytes follows.
		if ended && filled[len(filled)-1] == n.blockSize {
			ended = false
			r = bufio.NewReader(strings.NewReader(""))
		}
	}
	return res, nil
}

// mtuOf returns the MTU of the interface that holds addr; 0 when none does (the block
// size then has no cap of its own).
func mtuOf(addr netip.Addr) int {
	ifs, err := net.Interfaces()
	if err != nil {
		return 0
	}
	for _, ifc := range ifs {
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if p, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(p.IP); ok && ip.Unmap() == addr.Unmap() {
					return ifc.MTU
				}
			}
		}
	}
	return 0
}

// netasciiReader turns a file into netascii: LF as CR LF, CR as CR NUL (RFC 764).
type netasciiReader struct {
	r       *bufio.Reader
	pending byte
	has     bool
}

func (n *netasciiReader) Read(p []byte) (int, error) {
	i := 0
	for i < len(p) {
		if n.has {
			p[i], n.has = n.pending, false
			i++
			continue
		}
		c, err := n.r.ReadByte()
		if err != nil {
			if i > 0 && err == io.EOF {
				return i, nil
			}
			return i, err
		}
		switch c {
		case '\n':
			p[i], n.pending, n.has = '\r', '\n', true
		case '\r':
			p[i], n.pending, n.has = '\r', 0, true
		default:
			p[i] = c
		}
		i++
	}
	return i, nil
}
