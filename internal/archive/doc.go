// Package archive owns the flash-archive format: what an archive is as an OCI artifact (the
// manifest, the config blob with its identification and software-load descriptor, and the
// archive, configuration and cluster sections), how one is created from a root file system,
// derived into a configured or deployable archive, inspected, verified and extracted.
//
// It must not know where bytes live (package repository stores blobs, manifests and tags) nor
// how a root file system is packed (package tarball does that deterministically); it never
// reads the cluster model (the model package renders the cluster section and the software-load
// descriptor and hands them here as Go values).
package archive
