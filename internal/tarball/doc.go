// Package tarball turns a root file system into a deterministic, zstd-compressed tar stream and
// back. It owns the byte format of an archive's binary section: entry order, header
// normalization, compression framing, and safe extraction. It knows nothing of OCI, manifests or
// repositories (package archive wraps its output into layers) and it never writes outside the
// directory it is told to extract into.
//
// # API
//
//   - [Pack] reads a [Source] (a directory, or a tar stream) and writes a deterministic tar,
//     compressed with zstd unless [PackOptions].Compression is [Plain]. It returns [Stats]
//     with the entry counts and the sha256 of the uncompressed tar (the OCI diff_id).
//   - [WriteEntries] does the same for a few in-memory [Entry] values (configuration files,
//     scripts), so small sections share one normalization with the binary section.
//   - [Normalize] is that normalization, for a single tar header.
//   - [Extract] reads a tar (zstd, gzip or plain, detected by magic) into a directory and
//     returns an [ExtractReport] that lists everything it could not restore.
//
// # Determinism
//
// The same tree gives the same bytes wherever and whenever it is packed:
//   - Entries come in the order GNU tar --sort=name gives: depth first, the names of each
//     directory sorted byte-wise, a directory before its contents. This equals a byte-wise
//     sort of full paths in which '/' sorts before every other byte ([ComparePaths]). The root
//     directory is the first entry, named "./"; directories end in '/'.
//   - Headers are PAX. Numeric uid, gid and mode (including setuid, setgid, sticky) are kept;
//     user and group names, atime, ctime, and device numbers of non-device entries are dropped.
//     Modification times are PackOptions.SourceDateEpoch unless PreserveTimes.
//   - A file with several links is written once, at the first of its paths in entry order; its
//     other paths are tar hard links to that one.
//   - Extended attributes security.capability, system.posix_acl_access,
//     system.posix_acl_default and user.* are kept as SCHILY.xattr.* records (sorted by
//     name); other namespaces (security.selinux, trusted.*) are host state and are dropped.
//     [Extract] restores only those four too, and reports any other record it meets.
//   - Sparse files are read as a plain reader sees them (holes as zeros), so a sparse file and
//     its dense copy pack to the same bytes. [Extract] makes holes again: in regular files of
//     at least 64 KiB, every 4 KiB-aligned block of zeros is skipped with a seek rather than
//     written.
//   - Sockets cannot be archived; they are skipped and counted in Stats.SkippedSockets.
//   - The zstd stream is a sequence of independent frames, one per 8 MiB of tar, compressed in
//     parallel on every core at a fixed level, without frame checksums (the layer digest
//     already covers the bytes). The cut points depend only on the tar bytes, so the
//     compressed bytes are reproducible too. Any zstd decoder reads the result
//     (`zstd -d | tar -x`).
//   - The encoder is pure Go (github.com/klauspost/compress) in every default build, static
//     release binaries included, so every flarecast of a version gives the same compressed
//     bytes. Building with -tags libzstd (cgo, libzstd-dev) compresses with the system's
//     libzstd instead: 30% less CPU to compress (16% less for a whole pack), but compressed
//     bytes that depend on the libzstd version (the tar and its diff_id do not change).
//     [EncoderName] says which. docs/benchmarks.md (P1) has the measurements.
//
// # Memory
//
// Packing a directory streams: memory is bounded by the read-ahead budget and the frames in
// flight (under 100 MiB in all; a test holds it to 128 MiB for 400 MB of tar), plus one map
// entry per multiply-linked file and the names of one directory per level of depth. Packing a
// tar source spools its file data to a temporary file and keeps only the headers in memory to
// sort them (refusing a tar whose xattr values exceed 64 KiB each, which no file system holds,
// or 64 MiB in all). Extract streams too; it remembers the directories it made (their modes and
// times are set last, so that a read-only directory can still be filled: name, owner, mode,
// times and xattrs, refusing an archive whose directories carry more than 64 MiB of xattr
// values) and the open directories on the current path.
//
// # Extraction as an unprivileged user
//
// Without root (or with ExtractOptions.Rootless), owners are not changed and device nodes are
// not created: each such entry is listed in ExtractReport.NotRestored, with any xattr or mode
// bit the kernel refused, and extraction goes on. Everything that could write outside the
// target (absolute names, "..", writing through a symlink, hard links out of the tree) is an
// error that names the entry, privileged or not.
package tarball
