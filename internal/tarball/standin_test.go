package tarball

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Device nodes extracted as stand-ins (a user namespace cannot mknod) are empty files, and
// a DirSource with the report's Devices packs them into the bytes the real tree gives; a
// stand-in replaced since is packed as what replaced it.
func TestDeviceStandInsPackAsTheDevicesTheyStandFor(t *testing.T) {
	if !isRoot {
		t.Skip("the tree with real device nodes needs root")
	}
	src, dst := t.TempDir(), t.TempDir()
	makeTree(t, src, richTree(), time.Now())
	want, _ := packBytes(t, DirSource(src), PackOptions{SourceDateEpoch: 1700000000})
	rep := extractBytes(t, want, dst, ExtractOptions{DeviceStandIns: true})
	if len(rep.Devices) != 2 || rep.Devices[0] != (Device{Path: "dev/loop0", Block: true, Major: 7, Minor: 0, Dev: rep.Devices[0].Dev, Ino: rep.Devices[0].Ino, Ctime: rep.Devices[0].Ctime}) ||
		rep.Devices[1].Path != "dev/null" || rep.Devices[1].Block || rep.Devices[1].Major != 1 || rep.Devices[1].Minor != 3 || rep.CharDevices != 1 || rep.BlockDevices != 1 {
		t.Fatalf("devices %+v, stats %+v", rep.Devices, rep.Stats)
	}
	for _, d := range rep.Devices {
		if fi, err := os.Lstat(filepath.Join(dst, d.Path)); err != nil || !fi.Mode().IsRegular() || fi.Size() != 0 {
			t.Fatalf("%s: %v, %v: want an empty regular file", d.Path, fi, err)
		}
	}
	if without, _ := packBytes(t, DirSource(dst), PackOptions{SourceDateEpoch: 1700000000}); bytes.Equal(without, want) {
		t.Fatal("the stand-ins alone packed as device nodes")
	}
	got, _ := packBytes(t, DirSource(dst).WithDevices(rep.Devices), PackOptions{SourceDateEpoch: 1700000000})
	if !bytes.Equal(got, want) {
		t.Fatal("the stand-ins with their Devices did not pack into the bytes of the real tree")
	}

	// A package replaced /dev/null with a file of its own: that file is packed.
	os.Remove(filepath.Join(dst, "dev/null"))
	os.WriteFile(filepath.Join(dst, "dev/null"), nil, 0o666)
	again, _ := packBytes(t, DirSource(dst).WithDevices(rep.Devices), PackOptions{SourceDateEpoch: 1700000000})
	out := t.TempDir()
	if rep := extractBytes(t, again, out, ExtractOptions{}); rep.CharDevices != 0 || rep.BlockDevices != 1 {
		t.Fatalf("after replacing dev/null: stats %+v", rep.Stats)
	}
}
