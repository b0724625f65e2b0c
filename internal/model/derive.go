package model

import (
	"errors"
	"fmt"
	"net/netip"
)

// DefaultNodeIDBits is the API's default for nodeIdBits.
const DefaultNodeIDBits = 8

// Why a derived address cannot be used.
var (
	ErrNodeIDTooLarge = errors.New("node id does not fit the node-id bits")
	ErrDomainTooLarge = errors.New("domain does not fit the network")
	ErrOutsideCIDR    = errors.New("address is outside the network")
	ErrNetworkAddress = errors.New("address is the network address")
	ErrBroadcast      = errors.New("address is the broadcast address")
)

// Derive returns a node's address on a Derived network:
// base(cidr) + domain × 2^nodeIDBits + nodeID. With the error it still returns the value the
// rule computes (when it is an IPv4 address at all) so that messages can show it.
func Derive(cidr netip.Prefix, domain, nodeID, nodeIDBits int32) (netip.Addr, error) {
	if !cidr.Addr().Is4() || nodeIDBits < 0 || nodeIDBits > 31 || domain < 0 || nodeID < 0 {
		return netip.Addr{}, fmt.Errorf("derive on %s: invalid input", cidr)
	}
	size := uint64(1) << (32 - cidr.Bits())
	offset := uint64(domain)<<nodeIDBits + uint64(nodeID)
	base := cidr.Masked().Addr().As4()
	value := uint64(base[0])<<24 | uint64(base[1])<<16 | uint64(base[2])<<8 | uint64(base[3])
	value += offset
	var addr netip.Addr
	if value <= 0xffffffff {
		addr = netip.AddrFrom4([4]byte{byte(value >> 24), byte(value >> 16), byte(value >> 8), byte(value)})
	}
	switch {
	case uint64(nodeID) >= uint64(1)<<nodeIDBits:
		return addr, ErrNodeIDTooLarge
	case uint64(domain)<<nodeIDBits >= size:
		return addr, ErrDomainTooLarge
	case offset >= size:
		return addr, ErrOutsideCIDR
	case offset == 0 && cidr.Bits() < 31:
		return addr, ErrNetworkAddress
	case offset == size-1 && cidr.Bits() < 31:
		return addr, ErrBroadcast
	}
	return addr, nil
}

// maxDomain is the number of domains a network holds with nodeIDBits per domain.
func domains(cidr netip.Prefix, nodeIDBits int32) uint64 {
	hostBits := 32 - cidr.Bits()
	if int(nodeIDBits) >= hostBits {
		return 1
	}
	return uint64(1) << (hostBits - int(nodeIDBits))
}

// special says whether ip is the network or broadcast address of cidr.
func special(cidr netip.Prefix, ip netip.Addr) string {
	if cidr.Bits() >= 31 {
		return ""
	}
	if ip == cidr.Masked().Addr() {
		return "network"
	}
	if ip == broadcast(cidr) {
		return "broadcast"
	}
	return ""
}

func broadcast(cidr netip.Prefix) netip.Addr {
	a := cidr.Masked().Addr().As4()
	hostBits := 32 - cidr.Bits()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v |= uint32(uint64(1)<<hostBits - 1)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
