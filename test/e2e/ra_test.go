package e2e

import (
	"context"
	"fmt"
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// sendRouterAdvertisements multicasts, every half second until ctx ends, an IPv6 router
// advertisement with no prefix, no default route (lifetime 0) and neither the managed nor the
// other-configuration flag, from the bridge's link-local address. It is an experiment of
// benchmark P7, not a flarecast service: iPXE's "Configuring" step waits for IPv6 autoconf
// as long as no router answers, and such an answer tells it at once there is nothing to do.
func (l *lab) sendRouterAdvertisements(ctx context.Context) error {
	var fd int
	err := l.ns.InNetns(func() error {
		var err error
		fd, err = unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMPV6)
		return err
	})
	if err != nil {
		return fmt.Errorf("router advertisements: socket: %w", err)
	}
	var ifindex int
	if err := l.ns.InNetns(func() error {
		i, err := net.InterfaceByName(bridge)
		if err == nil {
			ifindex = i.Index
		}
		return err
	}); err != nil {
		unix.Close(fd)
		return err
	}
	// RFC 4861: a router advertisement travels with hop limit 255, or hosts drop it.
	for _, o := range [][2]int{{unix.IPV6_MULTICAST_HOPS, 255}, {unix.IPV6_MULTICAST_IF, ifindex}} {
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
	to := &unix.SockaddrInet6{ZoneId: uint32(ifindex)}
	copy(to.Addr[:], net.ParseIP("ff02::1").To16())
	go func() {
		defer unix.Close(fd)
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			// Before the bridge has its link-local address (a port up, DAD done) sending
			// fails; the next tick tries again.
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
