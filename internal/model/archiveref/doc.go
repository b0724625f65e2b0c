// Package archiveref owns the rules between a FlashArchive and the objects that derive from it
// or run it: a base must exist and not be Deployable, and the root file system at the bottom of
// an archive's chain of bases must be of the arch of the NodesGroup that runs it. The
// FlashArchive controller applies them when it plans an archive; `flarecast model check`
// applies them offline to the manifests it reads. Both call these functions, so both give the
// same reasons and the same messages.
//
// It reads objects only through the Lookup its caller passes (a cached client, a set of
// manifests) and writes nothing.
package archiveref
