// Package httpboot is the HTTP side of network boot: what a node's iPXE fetches after the
// TFTP step, and what its install agent downloads.
//
//	GET /ipxe/{node}       the node's iPXE script (kernel, initramfs, kernel arguments that carry
//	                       the node's name, its token and the install server's URL)
//	GET /boot/{file...}    static boot files (the deploy kernel, the initramfs) from a directory
//	GET /blobs/{digest}    archive blobs by digest, with Range, ETag (the digest) and If-Range,
//	                       so that an interrupted download resumes where it stopped
//
// A blob from a registry is fetched whole and verified (sha256) into a site-local cache before
// its first byte is served; ranges are then cut from the verified file. Blobs of a local store
// are served as the store holds them (it wrote them by digest).
//
// The package renders and serves; it does not decide. Which nodes exist, their tokens and
// their boot files come from the caller (the install server builds a Script per node from the
// resolved model). It holds no Kubernetes client, and never logs a token.
package httpboot
