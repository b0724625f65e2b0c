// Package initramfs builds the install environment a node boots over the network: a newc cpio
// (written with u-root's cpio package), compressed, holding the agent as /init, a static
// busybox with its applet links, the kernel modules a node needs to reach its disks and its
// network (with their dependencies, in load order, and the list the agent loads them from),
// and the disk tools the agent calls with the shared libraries they need.
//
// A build is deterministic: entries sorted by path, owners root, every time fixed, so the
// same inputs give the same bytes. Build keys its cache by a digest of those inputs (names,
// modes and the content of every file), so an install server builds each initramfs once.
//
// It reads the host's files (the kernel's module tree, the tools, their libraries) and runs
// nothing but `busybox --list`; it never loads modules nor boots anything.
package initramfs
