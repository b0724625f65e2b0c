// Package build does the heavy work behind a FlashArchive: it reads a build request (what to
// build, from which inputs, into which repository, under which name), fetches and checks a
// root file system, packs or derives the archive with package archive, and describes what it
// stored. `flarecast archive build` runs it in the process an executor starts.
//
// It knows nothing of Kubernetes: the controller turns a FlashArchive into a Request, with
// every input already resolved (ConfigMap content, rendered cluster files, base digests), so
// a request alone says what the archive is made from and its InputsDigest identifies it.
package build
