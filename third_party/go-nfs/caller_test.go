package nfs

import (
	"bytes"
	"context"
	"reflect"
	"runtime"
	"testing"

	"github.com/willscott/go-nfs-client/nfs/xdr"
)

// authUnixBody is an AUTH_UNIX credential's body as RFC 5531 appendix A has it.
func authUnixBody(t *testing.T, machine string, uid, gid uint32, gids []uint32) []byte {
	t.Helper()
	var b bytes.Buffer
	for _, v := range []any{uint32(7), machine, uid, gid, uint32(len(gids))} {
		if err := xdr.Write(&b, v); err != nil {
			t.Fatal(err)
		}
	}
	for _, g := range gids {
		xdr.Write(&b, g)
	}
	return b.Bytes()
}

func TestCallerAuthUnixDecodesTheCredential(t *testing.T) {
	body := authUnixBody(t, "n1", 1234, 5678, []uint32{10, 20})
	a, ok := CallerAuthUnix(withCaller(context.Background(), authUnixFlavor, body))
	if want := (AuthUnix{UID: 1234, GID: 5678, GIDs: []uint32{10, 20}}); !ok || !reflect.DeepEqual(a, want) {
		t.Errorf("AUTH_UNIX decodes as %+v %v, want %+v", a, ok, want)
	}
	for name, tc := range map[string]struct {
		flavor uint32
		body   []byte
	}{
		"AUTH_NONE":       {0, nil},
		"truncated":       {authUnixFlavor, body[:len(body)-2]},
		"trailing bytes":  {authUnixFlavor, append(append([]byte{}, body...), 0, 0, 0, 0)},
		"17 groups":       {authUnixFlavor, authUnixBody(t, "n1", 1, 1, make([]uint32, 17))},
		"long machine":    {authUnixFlavor, authUnixBody(t, string(bytes.Repeat([]byte("m"), 256)), 1, 1, nil)},
		"no machine name": {authUnixFlavor, []byte{0, 0, 0, 7}},
		"name past body":  {authUnixFlavor, []byte{0, 0, 0, 7, 0, 0, 0, 9, 'n', '1', 0, 0}},
	} {
		if a, ok := CallerAuthUnix(withCaller(context.Background(), tc.flavor, tc.body)); ok {
			t.Errorf("%s: decoded as %+v, want no credential", name, a)
		}
	}
}

// A credential whose machine name claims 2 GiB must be refused before the XDR decoder
// allocates that much: any host that reaches the NFS port can send one.
func TestAHugeMachineNameIsRefusedWithoutAllocatingIt(t *testing.T) {
	body := []byte{0, 0, 0, 7, 0x7f, 0xff, 0xff, 0xf0, 'n', '1', 0, 0}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if a, ok := CallerAuthUnix(withCaller(context.Background(), authUnixFlavor, body)); ok {
		t.Fatalf("decoded as %+v, want no credential", a)
	}
	runtime.ReadMemStats(&after)
	if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
		t.Errorf("refusing the credential allocated %d bytes", d)
	}
}
