// Package diskimage reads the disk images of simulated nodes (a file the agent laid out with
// a GPT, attached to a loop device while it ran): where sgdisk places a partition, and that
// partition mounted through a loop device over its sectors, for the test to read what the
// agent wrote. A loop device with partition scanning is not used: not every machine that
// runs the tests makes its partitions' device nodes.
//
// Tests only: it calls testing.TB, and needs root, sgdisk and mount.
package diskimage

import (
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

var (
	firstSector   = regexp.MustCompile(`First sector: (\d+)`)
	sizeOfSectors = regexp.MustCompile(`Partition size: (\d+) sectors`)
)

// Partition is the first sector of partition part of the image and its size in sectors of
// 512 bytes, as sgdisk reads its GPT; the test fails when there is no such partition.
func Partition(t testing.TB, image string, part int) (first, sectors int64) {
	t.Helper()
	out, err := exec.Command("sgdisk", fmt.Sprintf("--info=%d", part), image).CombinedOutput()
	if err != nil {
		t.Fatalf("sgdisk --info=%d %s: %v\n%s", part, image, err, out)
	}
	if m := firstSector.FindSubmatch(out); m != nil {
		fmt.Sscan(string(m[1]), &first)
	}
	if m := sizeOfSectors.FindSubmatch(out); m != nil {
		fmt.Sscan(string(m[1]), &sectors)
	}
	if first == 0 || sectors == 0 {
		t.Fatalf("no partition %d on %s: sgdisk --info=%d:\n%s", part, image, part, out)
	}
	return first, sectors
}

// Mount mounts partition part of the image at a directory of the test's, with the mount
// options opts ("ro,noload" to read an ext4 without replaying its journal, "rw"), until the
// test ends.
func Mount(t testing.TB, image string, part int, opts string) string {
	t.Helper()
	return MountAt(t, image, part, opts, t.TempDir())
}

// MountAt is Mount at dir (a mount point below another mount of the image, say).
func MountAt(t testing.TB, image string, part int, opts, dir string) string {
	t.Helper()
	first, sectors := Partition(t, image, part)
	o := fmt.Sprintf("%s,loop,offset=%d,sizelimit=%d", opts, first*512, sectors*512)
	if out, err := exec.Command("mount", "-o", o, image, dir).CombinedOutput(); err != nil {
		t.Fatalf("mount partition %d of %s at %s: %v\n%s", part, image, dir, err, strings.TrimSpace(string(out)))
	}
	// The loop device mount made goes with the unmount (autoclear).
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	return dir
}
