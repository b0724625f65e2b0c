// Package agent is the install engine of the node agent (cmd/flarecast-agent): given the
// agent API and the node's disks, it fetches the node's install plan, lays out the disks
// the plan names (found by serial, bus path or kernel name through disklayout, or given by a
// disk map on a simulated node), mounts them, streams every section of the archive from its
// URL into the root (extracting with the hardened extractor of tarball, hashing as it reads,
// resuming a cut download with Range from the byte it reached), and counts the install only
// when every section's digest, size and diffID match; a mismatch wipes the disks' partition
// tables. It then writes the node's own values (host name, network configuration, fstab,
// the installed record), runs the FirstBoot scripts in the installed root, installs the
// archive's own GRUB with a configuration it writes, and reports each step, with the
// installed digest at the end.
//
// A Diskless node installs nothing on a disk: its root is the group's NFS export under an
// overlay on a tmpfs, its own read-write export, or a tmpfs the sections are verified into
// (a RAM root); it gets the same node files, resident agent and FirstBoot scripts, and the
// caller switches into it (SwitchRoot).
//
// It is a library so that it can be tested without a node; it imports no Kubernetes or OCI
// code (the agent binary must stay small), never reboots and never spawns a shell: the
// binary decides that.
package agent
