// Package nfsroot serves the file systems of diskless and dataless nodes over NFSv3: the
// root of a Diskless group (the verified extraction of its deployable, read-only, under a
// mount path of its own), each node's own read-write merged view of that tree (Persistent
// writes), and shared data directories served read-write. It owns the protocol side only:
// which trees exist and who may mount them is the install server's.
//
// The protocol is github.com/willscott/go-nfs's (v0.0.4 with the patches of third_party/go-nfs). What it gets wrong for a root file system is
// fixed here, each with a test against a real client (libnfs's nfs-ls, nfs-cat, nfs-cp, and
// go-nfs-client):
//   - file handles are deterministic (an export id and the file's inode, looked up in an index
//     of the tree made when the export is opened), so they survive a restart of the server:
//     a diskless node keeps working across it instead of meeting "Stale file handle";
//     there is no handle cache to overflow;
//   - setuid, setgid and sticky bits are sent as the Unix mode bits (go-nfs sends Go's
//     os.FileMode, whose bits for them the client ignores);
//   - absolute symbolic links read back as written (go-billy's bound OS), and are never
//     followed by the server;
//   - writes to a tree are refused as a read-only file system (NFS3ERR_ROFS);
//   - the handles of read-write exports are a multiple of four bytes long: go-nfs v0.0.4 read
//     an opaque's XDR padding as the next field (ACCESS then answered no rights at all; the
//     patched copy reads it).
//
// A merged export (Export.Upper) is the overlayfs a node cannot have (overlayfs refuses an
// NFS upper directory), kept on the install server: reads come from the group's tree, every
// change goes to the node's upper directory, with OCI whiteouts for removals and opaque
// directories, copy-ups made whole in a work directory and renamed into place, so a crash at
// any point leaves the upper directory consistent. Its handles carry a MAC under the
// server's handle key, since only the MOUNT call says who the client is: the address check
// there (Export.Clients, MNT3ERR_ACCES for any other) would be worth nothing if a handle could
// be guessed. Hard links (LINK) are made in the upper directory, a file of the tree copied up
// first; chmod keeps setuid, setgid and sticky bits. Both need the patched go-nfs in
// third_party/go-nfs (v0.0.4 decoded LINK as SYMLINK and passed SETATTR the nine permission
// bits only), which also makes device nodes (MKNOD) and answers ENOTEMPTY and EXDEV as such,
// and hands the export the call's AUTH_UNIX credential: what a node makes (CREATE, MKDIR,
// SYMLINK, MKNOD) is made in the work directory, given the caller's user and group (the
// directory's group in a setgid directory, where a new directory is setgid too, as on Linux)
// and renamed into place; without AUTH_UNIX it is root's. No permission is checked against
// the caller: the export trusts its node.
// What it does not do: rename a directory of the tree (EXDEV, as overlayfs without
// redirect_dir: tools copy instead), or keep the names of a hard link of the tree apart (its
// index names an inode by its first path, so after a change of one name the others' handles
// reach the changed copy).
//
// atime and ctime are sent as the mtime: an export is an extraction of an archive, whose
// tar records only mtimes, so the server's own access and change times of its copy would
// say nothing about the node's system.
package nfsroot
