// Package tftp serves the network boot loaders (Debian's iPXE binaries: undionly.kpxe,
// ipxe.efi, snponly.efi) of an install server over TFTP, read-only, from one boot directory.
//
// The protocol is implemented here (RFC 1350 with the options of RFC 2347–2349 and the
// windowsize of RFC 7440) rather than taken from github.com/pin/tftp/v3, whose v3.1.0 has no
// windowsize, sends every block on the unconnected server socket and caps blksize four bytes
// above what a link carries unfragmented. Each transfer runs on a UDP socket connected to its
// client, lock-step or with the window the client asks for.
//
// This package owns the request path: a name is served only when it names a regular file
// inside the boot directory. Absolute names, "..", backslashes and symlinks that resolve
// outside the directory are refused, write requests are refused, and every refusal is logged
// with its reason. It knows nothing of DHCP, of nodes or of Kubernetes: the install server
// decides which file a node boots and points it here.
package tftp
