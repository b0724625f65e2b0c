// Package disklayout lays out a node's disks from its install plan: it finds each disk of the
// plan among the node's block devices by what the Machine model says of it (serial, then bus
// path, then the kernel name; never by /dev/sdX order alone), refuses a device smaller than its
// layout, writes a GPT with the plan's slices (1 MiB aligned; an EFI system partition type for
// a vfat slice mounted at /boot/efi, swap and Linux types otherwise) and makes the file systems
// with the tools the node's initramfs carries (mkfs.ext4, mkfs.xfs, mkfs.vfat, mkswap).
//
// It is the agent's disk step, kept apart so it can be tested on loop devices without a node.
// It reads block devices from sysfs (a root the caller names, so tests can give their own),
// writes only to the devices the plan matched, and never mounts anything: mounting and
// extracting the archive are the agent's next steps.
package disklayout
