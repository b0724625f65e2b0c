// Package nfsroot serves the root file systems of diskless nodes over NFSv3: each export is
// the verified extraction of one deployable archive, read-only, under a mount path of its
// own. A node mounts it and lays a tmpfs overlay over it for its writes.
//
// The protocol is github.com/willscott/go-nfs's. What it gets wrong for a root file system is
// fixed here, each with a test against a real client (libnfs's nfs-ls and nfs-cat):
//   - file handles are deterministic (an export id and the file's inode, looked up in an index
//     of the tree made when the export is opened), so they survive a restart of the server:
//     a diskless node keeps working across it instead of meeting "Stale file handle";
//     there is no handle cache to overflow;
//   - setuid, setgid and sticky bits are sent as the Unix mode bits (go-nfs sends Go's
//     os.FileMode, whose bits for them the client ignores);
//   - absolute symbolic links read back as written (go-billy's bound OS), and are never
//     followed by the server;
//   - writes are refused as a read-only file system (NFS3ERR_ROFS).
//
// atime and ctime are sent as the mtime: an export is an extraction of an archive, whose
// tar records only mtimes, so the server's own access and change times of its copy would
// say nothing about the node's system.
package nfsroot
