package installserver

import (
	"context"
	"fmt"
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// RouterAdvertisements multicasts on iface, every interval until ctx ends, an IPv6 router
// advertisement that says there is nothing to configure: no prefix, no default route
// (router lifetime 0), neither the managed nor the other-configuration flag. iPXE's
// "Configuring" step otherwise waits about 16 s for IPv6 autoconfiguration on a link with no
// IPv6 router (benchmark P7); this answer ends the wait at once. A host on the link learns
// nothing from it: it offers no address and no route. It is off unless asked for, since a
// site's provisioning network may have an IPv6 router of its own.
//
// The socket is opened before it returns (in the caller's network namespace); sending goes
// on in a goroutine.
func RouterAdvertisements(ctx context.Context, iface string, interval time.Duration) error {
	ifc, err := net.InterfaceByName(iface)
	if err != nil {
		return fmt.Errorf("router advertisements: %w", err)
	}
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMPV6)
	if err != nil {
		return fmt.Errorf("router advertisements: socket: %w", err)
	}
	// RFC 4861: a router advertisement travels with hop limit 255, or hosts drop it.
	for _, o := range [][2]int{{unix.IPV6_MULTICAST_HOPS, 255}, {unix.IPV6_MULTICAST_IF, ifc.Index}} {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, o[0], o[1]); err != nil {
			unix.Close(fd)
			return fmt.Errorf("router advertisements: setsockopt: %w", err)
		}
	}
	ra := []byte{
		134, 0, 0, 0, // type, code, checksum (the kernel computes it for ICMPv6)
		64, 0, 0, 0, // hop limit, flags (M=0 O=0), router lifetime 0
		0, 0, 0, 0, // reachable time
		0, 0, 0, 0, // retrans timer
	}
	to := &unix.SockaddrInet6{ZoneId: uint32(ifc.Index)}
	copy(to.Addr[:], net.ParseIP("ff02::1").To16())
	go func() {
		defer unix.Close(fd)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			// Before the interface has its link-local address (DAD not done) sending fails;
			// the next tick tries again.
			unix.Sendto(fd, ra, 0, to)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return nil
}
