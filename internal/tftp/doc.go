// Package tftp serves the network boot loaders (Debian's iPXE binaries: undionly.kpxe,
// ipxe.efi, snponly.efi) of an install server over TFTP, read-only, from one boot directory.
//
// The protocol is github.com/pin/tftp/v3: blksize (capped by the interface MTU so no block is
// fragmented) and tsize are negotiated; windowsize (RFC 7440) is not implemented by that
// library, which leaves the option out of its OACK, so a client that asks for it falls back to
// one block per ACK as the RFC requires. The library's own "anticipate" send window is not
// used: after one lost datagram it stalls until the transfer fails (seen with curl and
// 65464-byte blocks on loopback), where lock-step only retransmits.
//
// This package owns the request path: a name is served only when it names a regular file
// inside the boot directory. Absolute names, "..", backslashes and symlinks that resolve
// outside the directory are refused, write requests are refused, and every refusal is logged
// with its reason. It knows nothing of DHCP, of nodes or of Kubernetes: the install server
// decides which file a node boots and points it here.
package tftp
