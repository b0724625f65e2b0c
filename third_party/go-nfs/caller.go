package nfs

import (
	"context"

	"github.com/willscott/go-nfs-client/nfs/xdr"
)

// authUnixFlavor is AUTH_UNIX, also named AUTH_SYS (RFC 5531 appendix A).
const authUnixFlavor = 1

// AuthUnix is the AUTH_UNIX credential an RPC call carried: the caller's user, group and
// supplementary groups on the client.
type AuthUnix struct {
	UID  uint32
	GID  uint32
	GIDs []uint32
}

type callerKey struct{}

// CallerAuthUnix returns the AUTH_UNIX credential of the call a handler serves; false for
// another flavor (AUTH_NONE) or a credential that does not decode.
func CallerAuthUnix(ctx context.Context) (AuthUnix, bool) {
	a, ok := ctx.Value(callerKey{}).(AuthUnix)
	return a, ok
}

// withCaller puts the call's AUTH_UNIX credential, when it has a valid one, in ctx.
func withCaller(ctx context.Context, flavor uint32, body []byte) context.Context {
	if flavor != authUnixFlavor || len(body) > maxAuthBytes {
		return ctx
	}
	// Decoded as the arguments are (readArgs): the XDR decoder would allocate whatever
	// length the machine name claims (up to 2 GiB) before it finds the body short.
	r := newRecord(body)
	var cred struct {
		Stamp       uint32
		MachineName string `xdrmax:"machinename"`
		UID, GID    uint32
	}
	if err := readArgs(r, &cred); err != nil {
		return ctx
	}
	n, err := xdr.ReadUint32(r)
	if err != nil || n > 16 {
		return ctx
	}
	gids := make([]uint32, n)
	for i := range gids {
		if gids[i], err = xdr.ReadUint32(r); err != nil {
			return ctx
		}
	}
	if r.Len() != 0 {
		return ctx
	}
	return context.WithValue(ctx, callerKey{}, AuthUnix{UID: cred.UID, GID: cred.GID, GIDs: gids})
}

// CallerScoped is implemented by a billy.Filesystem or UnixChange that can make new objects
// owned by the caller: CREATE, MKDIR, SYMLINK and MKNOD make them through AsCaller's value
// (which must implement what the receiver does) when the call has an AUTH_UNIX credential.
type CallerScoped interface {
	AsCaller(AuthUnix) any
}

func asCaller[T any](ctx context.Context, v T) T {
	a, ok := CallerAuthUnix(ctx)
	if !ok {
		return v
	}
	s, ok := any(v).(CallerScoped)
	if !ok {
		return v
	}
	if t, ok := s.AsCaller(a).(T); ok {
		return t
	}
	return v
}
