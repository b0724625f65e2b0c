package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flarecast/flarecast/internal/testsupport/netlab"
)

// loopLines are the lines of `losetup -a` that name one of the images: other tests (and
// other engineers' runs) attach their own images meanwhile.
func loopLines(t *testing.T, images ...string) []string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(netlab.Run(t, "losetup", "-a"), "\n") {
		for _, img := range images {
			if strings.Contains(l, "("+img+")") {
				out = append(out, l)
			}
		}
	}
	return out
}

// TestDiskMapRefusesAnImageOfPartSectorsAndLeavesNoLoopDevice: an image whose size is not a
// multiple of 512 is refused before losetup, with its size and the sizes that would do, and
// the image of the map attached before it is detached by the function the caller runs on
// failure; `losetup -a` names neither image afterwards. (losetup attached such an image with
// a warning on stderr, which the agent read as the device's name: the attach failed later
// and its device was never detached.)
func TestDiskMapRefusesAnImageOfPartSectorsAndLeavesNoLoopDevice(t *testing.T) {
	netlab.RequirePeers(t, "losetup")
	dir := t.TempDir()
	good, odd := filepath.Join(dir, "good.img"), filepath.Join(dir, "odd.img")
	for img, size := range map[string]int64{good: 8 << 20, odd: 8<<20 + 100} {
		if err := os.WriteFile(img, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(img, size); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		// Whatever a failing run left attached goes, so that the machine stays clean.
		for _, img := range []string{good, odd} {
			if devs, err := loopsOf(img); err == nil {
				for _, d := range devs {
					exec.Command("losetup", "--detach", d).Run()
				}
			}
		}
	})
	if before := loopLines(t, good, odd); len(before) != 0 {
		t.Fatalf("before: %q", before)
	}
	m, detach, err := attachDisks("d0=" + good + ",d1=" + odd)
	if err == nil || !strings.Contains(err.Error(), "disk d1: disk image "+odd+" is 8388708 bytes, not a whole number of 512-byte sectors: make it 8388608 or 8389120 bytes") {
		t.Errorf("attachDisks: %v (map %q), want the odd image refused with its size", err, m)
	}
	if during := loopLines(t, good); len(during) != 1 {
		t.Errorf("while the caller has not detached yet, the good image's devices: %q", during)
	}
	if odd := loopLines(t, odd); len(odd) != 0 {
		t.Errorf("the refused image is attached: %q", odd)
	}
	detach()
	if after := loopLines(t, good, odd); len(after) != 0 {
		t.Errorf("after the failed attach and the detach, losetup -a still lists %q", after)
	}

	// A whole image alone attaches to a loop device, which detach takes away.
	m, detach, err = attachDisks("d0=" + good)
	if err != nil || !strings.HasPrefix(m["d0"], "/dev/loop") {
		t.Fatalf("attachDisks of a whole image: %q %v", m, err)
	}
	if st, err := os.Stat(m["d0"]); err != nil || st.Mode()&os.ModeDevice == 0 {
		t.Errorf("%s: %v %v", m["d0"], st, err)
	}
	detach()
	if after := loopLines(t, good); len(after) != 0 {
		t.Errorf("after detach: %q", after)
	}
}
