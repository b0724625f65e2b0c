package nfs

import (
	"bytes"
	"context"
	"encoding/binary"
	"reflect"
	"testing"

	"github.com/willscott/go-nfs-client/nfs/rpc"
)

// FuzzDecodeCall decodes any bytes as a call's header and, from their start too, as each
// procedure's arguments: it must not panic, and what decodes must hold no more bytes than the input, nor a field more
// than its protocol limit.
func FuzzDecodeCall(f *testing.F) {
	u32 := func(vs ...uint32) []byte {
		var b []byte
		for _, v := range vs {
			b = binary.BigEndian.AppendUint32(b, v)
		}
		return b
	}
	// Calls' headers after xid and type (rpcvers, prog, vers, proc, credential, verifier).
	f.Add(u32(2, 100003, 3, 1, 0, 0, 0, 0))
	f.Add(u32(2, 100003, 3, 3, 1, 24, 7, 2, 0x6e310000, 1234, 5678, 0, 0, 0)) // AUTH_UNIX
	f.Add(u32(2, 100003, 3, 1, 0, 0x7ffffff0, 0))                             // huge credential
	// Procedures' arguments.
	f.Add(u32(16, 1, 2, 3, 4, 1, 0x61000000))                                     // a handle and a name
	f.Add(u32(0x7ffffff0, 1))                                                     // huge handle
	f.Add(append(u32(65), make([]byte, 68)...))                                   // handle of 65 bytes
	f.Add(u32(4, 1, 0, 0, 4, 2, 4, 0x64617461))                                   // WRITE
	f.Add(u32(4, 1, 0, 0, 4, 2, 0x7ffffff0, 0x64617461))                          // WRITE, huge data
	f.Add(append(u32(4, 1, 0, 0, 0, 2, MaxWrite+1), make([]byte, MaxWrite+4)...)) // WRITE past wtmax
	args := []func() any{
		func() any { return &DirOpArg{} },
		func() any { return &writeArgs{} },
		func() any { return &nfsReadArgs{} },
		func() any { return &readDirArgs{} },
		func() any { return &readDirPlusArgs{} },
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r := newRecord(b)
		var h rpc.Header
		if err := readCallHeader(r, &h); err == nil {
			if len(h.Cred.Body) > maxAuthBytes || len(h.Verf.Body) > maxAuthBytes {
				t.Errorf("header %x decodes with bodies of %d and %d bytes", b, len(h.Cred.Body), len(h.Verf.Body))
			}
			if a, ok := CallerAuthUnix(withCaller(context.Background(), h.Cred.Flavor, h.Cred.Body)); ok && len(a.GIDs) > 16 {
				t.Errorf("credential %x decodes with %d groups", h.Cred.Body, len(a.GIDs))
			}
		}
		for _, newArgs := range args {
			v := newArgs()
			r := newRecord(b)
			err := readArgs(r, v)
			if err != nil && !r.garbage {
				t.Errorf("%T from %x: %v without marking the record garbage", v, b, err)
			}
			if err != nil {
				continue
			}
			if n := opaqueBytes(reflect.ValueOf(v).Elem()); n > len(b) {
				t.Errorf("%T from %d bytes holds %d", v, len(b), n)
			}
			if h := reflect.ValueOf(v).Elem().FieldByName("Handle"); h.Len() > fhSize {
				t.Errorf("%T from %d bytes has a handle of %d bytes", v, len(b), h.Len())
			}
			if w, ok := v.(*writeArgs); ok && len(w.Data) > MaxWrite {
				t.Errorf("WRITE from %d bytes has %d bytes of data", len(b), len(w.Data))
			}
		}
	})
}

// opaqueBytes adds up the lengths of v's []byte and string fields.
func opaqueBytes(v reflect.Value) int {
	n := 0
	for i := 0; i < v.NumField(); i++ {
		switch f := v.Field(i); f.Kind() {
		case reflect.Struct:
			n += opaqueBytes(f)
		case reflect.Slice, reflect.String:
			n += f.Len()
		}
	}
	return n
}

// Every argument struct a handler hands readArgs decodes with a bound: readArgs refuses a
// field it cannot bound, which would answer every call of that procedure GARBAGE_ARGS.
func TestEveryArgumentStructIsBounded(t *testing.T) {
	for _, v := range []any{&DirOpArg{}, &writeArgs{}, &nfsReadArgs{}, &readDirArgs{}, &readDirPlusArgs{}} {
		b := bytes.Repeat([]byte{0}, 64)
		if err := readArgs(newRecord(b), v); err != nil {
			t.Errorf("%T: %v", v, err)
		}
	}
	var unbounded struct{ GIDs []uint32 }
	if err := readArgs(newRecord(make([]byte, 8)), &unbounded); err == nil {
		t.Error("a []uint32 field decodes, want it refused")
	}
}
