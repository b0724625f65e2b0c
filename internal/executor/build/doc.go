// Package build does the heavy work behind a FlashArchive: it reads a build request (what to
// build, from which inputs, into which repository, under which name), fetches and checks a
// root file system, packs or derives the archive with package archive, and describes what it
// stored. `flarecast archive build` runs it in the process an executor starts.
//
// A build source (Master) makes a build root in the build's work directory (a base extracted,
// or a Debian suite by mmdebstrap), installs packages with apt chrooted in namespaces of its
// own, waits for a person when asked, then packs the root; the root goes with the work
// directory, whatever becomes of the build. It runs tools as root: only a manager that allows
// build sources hands it one.
//
// It knows nothing of Kubernetes: the controller turns a FlashArchive into a Request, with
// every input already resolved (ConfigMap content, rendered cluster files, base digests), so
// a request alone says what the archive is made from and its InputsDigest identifies it.
package build
