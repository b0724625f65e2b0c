package nfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"

	xdr2 "github.com/rasky/go-xdr/xdr2"
	"github.com/willscott/go-nfs-client/nfs/xdr"
)

// The XDR decoder allocates whatever length a variable-length field claims before it reads
// the bytes, so every call is decoded from its record, already in memory, and no length is
// believed past the bytes the record has left (nor past the protocol's own limit for that
// field). A malformed call from any host that reaches the port then costs what it sent, not
// the 2 GiB it claims.
const (
	// MaxWrite is the largest WRITE the server takes (FSINFO's wtmax and wtpref). It is the
	// most the Linux client ever sends (NFS_MAX_FILE_IO_SIZE) and Linux nfsd's largest; with
	// upstream's 1 GiB a conforming client could send records of 1 GiB, which the server
	// would have to hold.
	MaxWrite = 1 << 20
	// maxRecordSize bounds an RPC record (one fragment): a WRITE of MaxWrite bytes and its
	// headers (the call's header is at most 840 bytes, WRITE's other arguments 88), with room
	// to spare. A longer one closes the connection, as Linux nfsd does.
	maxRecordSize = MaxWrite + 4096
	// recordChunk is the memory a record gets before its bytes arrive; it grows with them.
	recordChunk = 64 << 10
	// fhSize is NFS3_FHSIZE (RFC 1813 2.4), which is also MOUNT's FHSIZE3.
	fhSize = 64
	// mntPathLen is MNTPATHLEN (RFC 1813 5.1), the longest path MOUNT takes.
	mntPathLen = 1024
	// maxAuthBytes is MAX_AUTH_BYTES (RFC 5531 8.2), the longest credential or verifier body.
	maxAuthBytes = 400
	// maxMachineName is the longest machine name of an AUTH_UNIX credential (RFC 5531 A).
	maxMachineName = 255
	// noLimit is the limit of a field the protocol does not bound: the bytes left in the
	// record are its bound.
	noLimit = math.MaxInt32
)

// errGarbageArgs is the error of arguments that do not decode: the call is answered
// GARBAGE_ARGS.
var errGarbageArgs = errors.New("arguments do not decode")

// record is one RPC call's bytes: its header is read first, then the procedure's arguments.
// Reading past its end, or a length that claims more than it has, marks the arguments
// garbage.
type record struct {
	r       *bytes.Reader
	garbage bool
}

func newRecord(b []byte) *record { return &record{r: bytes.NewReader(b)} }

func (r *record) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n < len(p) {
		r.garbage = true
	}
	return n, err
}

// Len is how many bytes of the record are left.
func (r *record) Len() int { return r.r.Len() }

// readRecord reads a record of n bytes into memory, which grows as its bytes arrive: a
// sender that claims a long record and sends little costs recordChunk.
func readRecord(r io.Reader, n int) ([]byte, error) {
	size := n
	if size > recordChunk {
		size = recordChunk
	}
	buf := make([]byte, size)
	got := 0
	for {
		k, err := io.ReadFull(r, buf[got:])
		got += k
		if err != nil {
			return nil, err
		}
		if got == n {
			return buf, nil
		}
		size = 2 * len(buf)
		if size > n {
			size = n
		}
		grown := make([]byte, size)
		copy(grown, buf)
		buf = grown
	}
}

// readOpaque reads variable-length opaque data (or a string) of at most max bytes and the
// padding after it, allocating nothing for a length the record does not hold.
func readOpaque(r *record, max int) ([]byte, error) {
	l, err := xdr.ReadUint32(r)
	if err != nil {
		return nil, errGarbageArgs
	}
	padded := (uint64(l) + 3) &^ 3
	if uint64(l) > uint64(max) || padded > uint64(r.Len()) {
		r.garbage = true
		return nil, fmt.Errorf("%w: an opaque of %d bytes (at most %d, %d left)", errGarbageArgs, l, max, r.Len())
	}
	b := make([]byte, padded)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, errGarbageArgs
	}
	return b[:l:l], nil
}

// readArgs decodes a procedure's arguments into the struct v points to. Its fields are
// fixed-size (integers, booleans, byte arrays), structs of them, or []byte and string read by
// readOpaque, bounded by the bytes left and by the limit their `xdrmax` tag names; any other
// kind is refused rather than decoded without a bound.
func readArgs(r *record, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("readArgs: %T is not a pointer to a struct", v)
	}
	return readStruct(r, rv.Elem())
}

func readStruct(r *record, v reflect.Value) error {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f, fv := t.Field(i), v.Field(i)
		if !f.IsExported() {
			continue
		}
		switch k := f.Type.Kind(); {
		case k == reflect.Struct:
			if err := readStruct(r, fv); err != nil {
				return err
			}
		case k == reflect.String, k == reflect.Slice && f.Type.Elem().Kind() == reflect.Uint8:
			max, err := fieldLimit(f.Tag.Get("xdrmax"))
			if err != nil {
				return fmt.Errorf("readArgs: field %s: %w", f.Name, err)
			}
			b, err := readOpaque(r, max)
			if err != nil {
				return err
			}
			if k == reflect.String {
				fv.SetString(string(b))
			} else {
				fv.SetBytes(b)
			}
		case k == reflect.Uint32, k == reflect.Int32, k == reflect.Uint64, k == reflect.Int64,
			k == reflect.Bool, k == reflect.Array && f.Type.Elem().Kind() == reflect.Uint8:
			if _, err := xdr2.Unmarshal(r, fv.Addr().Interface()); err != nil {
				return fmt.Errorf("%w: %v", errGarbageArgs, err)
			}
		default:
			return fmt.Errorf("readArgs: field %s: %s has no bounded decoding", f.Name, f.Type)
		}
	}
	return nil
}

// fieldLimit is the most bytes a field whose `xdrmax` tag is tag may hold; without a tag the
// bytes left in the record are its only bound.
func fieldLimit(tag string) (int, error) {
	switch tag {
	case "":
		return noLimit, nil
	case "fh":
		return fhSize, nil
	case "wtmax":
		return MaxWrite, nil
	case "machinename":
		return maxMachineName, nil
	}
	return 0, fmt.Errorf("unknown xdrmax %q", tag)
}
