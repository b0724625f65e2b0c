package initramfs

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// DefaultModules are the drivers a node needs to reach its disks and its network, and the
// file systems the agent makes and mounts: virtio (qemu and most clouds), NVMe, AHCI and SCSI
// disks, the common server NICs, NFS v3 and overlayfs for diskless roots (the export read-only
// under an overlay whose writes go to a tmpfs; tmpfs itself is built in), and efivarfs, through
// which the agent writes a UEFI node's NVRAM boot entry. Their dependencies come from
// modules.dep. Soft dependencies are not followed, so crc32c_generic, which ext4, jbd2 and
// libcrc32c ask the crypto API for, is named here; NIC firmware (bnx2, tg3 on some boards)
// is not included.
var DefaultModules = []string{
	"virtio_pci", "virtio_net", "virtio_blk", "virtio_scsi",
	"nvme", "ahci", "sd_mod",
	"e1000", "e1000e", "igb", "ixgbe", "i40e", "ice", "r8169", "tg3", "bnx2", "bnxt_en", "vmxnet3",
	"nfs", "nfsv3", "overlay",
	"crc32c_generic", "ext4", "xfs", "vfat", "nls_cp437", "nls_ascii", "nls_utf8",
	"efivarfs",
}

// DefaultTools are the programs the agent runs, looked up in ToolDirs: partitioning, making
// file systems and swap, finding and wiping signatures.
var DefaultTools = []string{"sgdisk", "mkfs.ext4", "mkfs.xfs", "mkfs.vfat", "mkswap", "blkid", "wipefs"}

// DefaultFiles are host files the tools read: mke2fs takes its defaults (features, inode
// size) from mke2fs.conf, and without it would make file systems the host's tools do not.
var DefaultFiles = []File{{Source: "/etc/mke2fs.conf", Target: "etc/mke2fs.conf"}}

// DefaultToolDirs are searched, in order, for a tool given by name.
var DefaultToolDirs = []string{"/usr/sbin", "/usr/bin", "/sbin", "/bin"}

// Compression is how the cpio is compressed; the Debian kernel accepts both.
type Compression string

const (
	// Zstd decompresses fastest at boot (CONFIG_RD_ZSTD).
	Zstd Compression = "zstd"
	// Gzip is what every kernel accepts (CONFIG_RD_GZIP).
	Gzip Compression = "gzip"
)

// File is a host file copied into the image.
type File struct {
	// Source is the host path; Target the path in the image, relative to its root.
	Source string
	Target string
}

// Spec says what goes into an image. A nil list takes its default; an empty one means none.
type Spec struct {
	// Init is the program the kernel runs as /init (the agent): static, or its loader and
	// libraries are added like a tool's.
	Init string
	// Busybox is a static busybox (default /bin/busybox, from busybox-static); every applet
	// it lists gets a link in /usr/bin, except names a tool takes.
	Busybox string
	// KernelVersion names the tree under ModulesDir (default /lib/modules); empty takes the
	// only one there is.
	KernelVersion string
	ModulesDir    string
	Modules       []string
	// Tools are names looked up in ToolDirs, or absolute paths; each lands in /usr/sbin.
	Tools       []string
	ToolDirs    []string
	LibraryDirs []string
	Files       []File
	Compression Compression
}

// withDefaults fills what the caller left out and checks what it gave.
func (s Spec) withDefaults() (Spec, error) {
	if s.Init == "" {
		return s, fmt.Errorf("initramfs: no /init program given")
	}
	if s.Busybox == "" {
		s.Busybox = "/bin/busybox"
	}
	if s.ModulesDir == "" {
		s.ModulesDir = "/lib/modules"
	}
	if s.KernelVersion == "" {
		v, err := onlyKernel(s.ModulesDir)
		if err != nil {
			return s, err
		}
		s.KernelVersion = v
	}
	if filepath.Base(s.KernelVersion) != s.KernelVersion || s.KernelVersion == ".." {
		return s, fmt.Errorf("initramfs: kernel version %q is not a directory name", s.KernelVersion)
	}
	if s.Modules == nil {
		s.Modules = DefaultModules
	}
	if s.Tools == nil {
		s.Tools = DefaultTools
	}
	if s.ToolDirs == nil {
		s.ToolDirs = DefaultToolDirs
	}
	if s.LibraryDirs == nil {
		s.LibraryDirs = DefaultLibraryDirs
	}
	if s.Files == nil {
		s.Files = DefaultFiles
	}
	switch s.Compression {
	case "":
		s.Compression = Zstd
	case Zstd, Gzip:
	default:
		return s, fmt.Errorf("initramfs: compression %q: want zstd or gzip", s.Compression)
	}
	return s, nil
}

// onlyKernel names the one kernel tree in dir, so that a host with one kernel needs no flag.
func onlyKernel(dir string) (string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("initramfs: kernel modules: %w", err)
	}
	var vs []string
	for _, e := range ents {
		if _, err := os.Stat(filepath.Join(dir, e.Name(), "modules.dep")); err == nil {
			vs = append(vs, e.Name())
		}
	}
	sort.Strings(vs)
	switch len(vs) {
	case 1:
		return vs[0], nil
	case 0:
		return "", fmt.Errorf("initramfs: no kernel module tree (modules.dep) under %s", dir)
	default:
		return "", fmt.Errorf("initramfs: %d kernel module trees under %s (%v): name the kernel version", len(vs), dir, vs)
	}
}
