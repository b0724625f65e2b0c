// Package image reads OCI container images and flattens one platform's layers into a single
// root file system, as a tar stream, so that a Generic flash archive can be built from the
// image a user already builds their node OS as ("build your node OS as a container image").
//
// It owns three things: where an image comes from (a registry, with the credentials of a
// docker config; an OCI image layout directory; an oci-archive tar file), which manifest of an
// index is the one for an archive's architecture, and the layer semantics of the OCI image
// spec: whiteouts (.wh.NAME) and opaque directories (.wh..wh..opq) hide what lower layers
// hold, a path in a higher layer replaces the same path below, a non-directory hides a lower
// directory's contents, and hard links keep their targets. Extended attributes (file
// capabilities among them) pass through as the PAX records the layers carry.
//
// It verifies what it reads: every blob against its descriptor's digest and size, every
// layer's uncompressed bytes against the config's diff_ids, and it refuses an entry whose
// name or link target climbs out of the root. It never writes to disk and never changes the
// source it reads (an OCI layout is opened read-only); the tar it produces is not canonical
// (entries come top layer first) — package tarball makes it deterministic when it packs it.
// The image's own configuration (env, entrypoint, labels) is returned for the archive's
// creation inputs; it is never applied.
package image
