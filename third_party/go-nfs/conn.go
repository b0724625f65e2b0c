package nfs

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"

	xdr2 "github.com/rasky/go-xdr/xdr2"
	"github.com/willscott/go-nfs-client/nfs/rpc"
	"github.com/willscott/go-nfs-client/nfs/xdr"
)

var (
	// ErrInputInvalid is returned when input cannot be parsed
	ErrInputInvalid = errors.New("invalid input")
	// ErrAlreadySent is returned when writing a header/status multiple times
	ErrAlreadySent = errors.New("response already started")
)

// ResponseCode is a combination of accept_stat and reject_stat.
type ResponseCode uint32

// ResponseCode Codes. The accepted ones go on the wire as accept_stat (RFC 5531 9), which
// has PROG_MISMATCH (2) before PROC_UNAVAIL: without it PROC_UNAVAIL went out as
// PROG_MISMATCH, GARBAGE_ARGS as PROC_UNAVAIL and SYSTEM_ERR as GARBAGE_ARGS.
const (
	ResponseCodeSuccess ResponseCode = iota
	ResponseCodeProgUnavailable
	ResponseCodeProgMismatch
	ResponseCodeProcUnavailable
	ResponseCodeGarbageArgs
	ResponseCodeSystemErr
	ResponseCodeRPCMismatch
	ResponseCodeAuthError
)

type conn struct {
	*Server
	writeSerializer chan []byte
	net.Conn
}

func (c *conn) serve(ctx context.Context) {
	connCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	c.writeSerializer = make(chan []byte, 1)
	go c.serializeWrites(connCtx)

	bio := bufio.NewReader(c.Conn)
	for {
		w, err := c.readRequestHeader(connCtx, bio)
		if err != nil {
			// A clean close (io.EOF), or a record that is refused: one too long to hold, or
			// whose header does not decode. Either way nothing more can be read from the
			// stream, and upstream left the connection open with no one reading it.
			c.Close()
			return
		}
		Log.Tracef("request: %v", w.req)
		err = c.handle(connCtx, w)
		respErr := w.finish(connCtx)
		if err != nil {
			Log.Errorf("error handling req: %v", err)
			// failure to handle at a level needing to close the connection.
			c.Close()
			return
		}
		if respErr != nil {
			Log.Errorf("error sending response: %v", respErr)
			c.Close()
			return
		}
	}
}

func (c *conn) serializeWrites(ctx context.Context) {
	// todo: maybe don't need the extra buffer
	writer := bufio.NewWriter(c.Conn)
	var fragmentBuf [4]byte
	var fragmentInt uint32
	for {
		select {
		case <-ctx.Done():
			return
		case msg, ok := <-c.writeSerializer:
			if !ok {
				return
			}
			// prepend the fragmentation header
			fragmentInt = uint32(len(msg))
			fragmentInt |= (1 << 31)
			binary.BigEndian.PutUint32(fragmentBuf[:], fragmentInt)
			n, err := writer.Write(fragmentBuf[:])
			if n < 4 || err != nil {
				return
			}
			n, err = writer.Write(msg)
			if err != nil {
				return
			}
			if n < len(msg) {
				panic("todo: ensure writes complete fully.")
			}
			if err = writer.Flush(); err != nil {
				return
			}
		}
	}
}

// Handle a request. errors from this method indicate a failure to read or
// write on the network stream, and trigger a disconnection of the connection.
func (c *conn) handle(ctx context.Context, w *response) error {
	handler := c.Server.handlerFor(w.req.Header.Prog, w.req.Header.Proc)
	if handler == nil {
		Log.Errorf("No handler for %d.%d", w.req.Header.Prog, w.req.Header.Proc)
		return c.err(ctx, w, &ResponseCodeProcUnavailableError{})
	}
	ctx = withCaller(ctx, w.req.Header.Cred.Flavor, w.req.Header.Cred.Body)
	appError := handler(ctx, w, c.Server.Handler)
	if w.req.Body.garbage && !w.responded {
		// Whatever status the handler chose (upstream's handlers say NFS3ERR_INVAL), arguments
		// that do not decode are the RPC's GARBAGE_ARGS.
		appError = &ResponseCodeGarbageArgsError{}
	}
	if appError != nil && !w.responded {
		if err := c.err(ctx, w, appError); err != nil {
			return err
		}
	}
	if !w.responded {
		Log.Errorf("Handler did not indicate response status via writing or erroring")
		if err := c.err(ctx, w, &ResponseCodeSystemError{}); err != nil {
			return err
		}
	}
	return nil
}

func (c *conn) err(ctx context.Context, w *response, err error) error {
	select {
	case <-ctx.Done():
		return nil
	default:
	}

	if w.err == nil {
		w.err = err
	}

	if w.responded {
		return nil
	}

	rpcErr := w.errorFmt(err)
	if writeErr := w.writeHeader(rpcErr.Code()); writeErr != nil {
		return writeErr
	}

	body, _ := rpcErr.MarshalBinary()
	return w.Write(body)
}

type request struct {
	xid uint32
	rpc.Header
	Body *record
}

func (r *request) String() string {
	if r.Header.Prog == nfsServiceID {
		return fmt.Sprintf("RPC #%d (nfs.%s)", r.xid, NFSProcedure(r.Header.Proc))
	} else if r.Header.Prog == mountServiceID {
		return fmt.Sprintf("RPC #%d (mount.%s)", r.xid, MountProcedure(r.Header.Proc))
	}
	return fmt.Sprintf("RPC #%d (%d.%d)", r.xid, r.Header.Prog, r.Header.Proc)
}

type response struct {
	*conn
	writer    *bytes.Buffer
	responded bool
	err       error
	errorFmt  func(error) RPCError
	req       *request
}

func (w *response) writeXdrHeader() error {
	err := xdr.Write(w.writer, &w.req.xid)
	if err != nil {
		return err
	}
	respType := uint32(1)
	err = xdr.Write(w.writer, &respType)
	if err != nil {
		return err
	}
	return nil
}

func (w *response) writeHeader(code ResponseCode) error {
	if w.responded {
		return ErrAlreadySent
	}
	w.responded = true
	if err := w.writeXdrHeader(); err != nil {
		return err
	}

	if code == ResponseCodeAuthError || code == ResponseCodeRPCMismatch {
		// A rejected_reply (RFC 5531 9): reject_stat, then the error's mismatch_info or
		// auth_stat. Upstream sent the ResponseCode (6 or 7) as reject_stat.
		reject := rejectRPCMismatch
		if code == ResponseCodeAuthError {
			reject = rejectAuthError
		}
		denied := uint32(rpc.MsgDenied)
		if err := xdr.Write(w.writer, &denied); err != nil {
			return err
		}
		return xdr.Write(w.writer, &reject)
	}
	status := uint32(rpc.MsgAccepted)
	if err := xdr.Write(w.writer, &status); err != nil {
		return err
	}
	// Write opaque_auth header.
	if err := xdr.Write(w.writer, &rpc.AuthNull); err != nil {
		return err
	}
	return xdr.Write(w.writer, &code)
}

// reject_stat (RFC 5531 9).
const (
	rejectRPCMismatch uint32 = 0
	rejectAuthError   uint32 = 1
)

// Write a response to an xdr message
func (w *response) Write(dat []byte) error {
	if !w.responded {
		if err := w.writeHeader(ResponseCodeSuccess); err != nil {
			return err
		}
	}

	acc := 0
	for acc < len(dat) {
		n, err := w.writer.Write(dat[acc:])
		if err != nil {
			return err
		}
		acc += n
	}
	return nil
}

func (w *response) finish(ctx context.Context) error {
	select {
	case w.conn.writeSerializer <- w.writer.Bytes():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *conn) readRequestHeader(ctx context.Context, reader *bufio.Reader) (w *response, err error) {
	fragment, err := xdr.ReadUint32(reader)
	if err != nil {
		if xdrErr, ok := err.(*xdr2.UnmarshalError); ok {
			if xdrErr.Err == io.EOF {
				return nil, io.EOF
			}
		}
		return nil, err
	}
	if fragment&(1<<31) == 0 {
		Log.Warnf("Warning: haven't implemented fragment reconstruction.\n")
		return nil, ErrInputInvalid
	}
	reqLen := fragment - uint32(1<<31)
	if reqLen < 40 || reqLen > maxRecordSize {
		Log.Warnf("refusing an RPC record of %d bytes", reqLen)
		return nil, ErrInputInvalid
	}
	b, err := readRecord(reader, int(reqLen))
	if err != nil {
		return nil, err
	}
	r := newRecord(b)

	xid, err := xdr.ReadUint32(r)
	if err != nil {
		return nil, err
	}
	reqType, err := xdr.ReadUint32(r)
	if err != nil {
		return nil, err
	}
	if reqType != 0 { // 0 = request, 1 = response
		return nil, ErrInputInvalid
	}

	req := request{
		xid,
		rpc.Header{},
		r,
	}
	if err = readCallHeader(r, &req.Header); err != nil {
		return nil, err
	}

	w = &response{
		conn:     c,
		req:      &req,
		errorFmt: basicErrorFormatter,
		// TODO: use a pool for these.
		writer: bytes.NewBuffer([]byte{}),
	}
	return w, nil
}

// readCallHeader decodes the call's header after its xid and type: the credential and the
// verifier are at most MAX_AUTH_BYTES each.
func readCallHeader(r *record, h *rpc.Header) error {
	for _, v := range []*uint32{&h.Rpcvers, &h.Prog, &h.Vers, &h.Proc} {
		var err error
		if *v, err = xdr.ReadUint32(r); err != nil {
			return err
		}
	}
	for _, a := range []*rpc.Auth{&h.Cred, &h.Verf} {
		var err error
		if a.Flavor, err = xdr.ReadUint32(r); err != nil {
			return err
		}
		if a.Body, err = readOpaque(r, maxAuthBytes); err != nil {
			return err
		}
	}
	return nil
}
