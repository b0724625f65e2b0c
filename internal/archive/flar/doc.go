// Package flar moves archives between sites that share no registry: Export writes one or more
// archives of a store (a whole software load, say) as a single self-describing file, in the
// spirit of the Solaris flash-archive layout — a text header that identifies the archives and
// lists every section with its media type, size and sha256 digest, then the sections
// themselves — and Import reads such a file back into a store, verifying every byte before it
// names anything.
//
// It owns the file format (docs/archive-format.md, "Export file"). It must not write a tag for
// an archive until every section of the file has been verified, and must leave a store as it
// was when the file is damaged; how blobs are stored durably is package repository's business.
package flar
