package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
)

// sectorSize is what a loop device counts in: losetup attaches an image whose size is not a
// multiple of it, drops its tail, and warns.
const sectorSize = 512

// attachDisks reads --disk-map (disk=path,...). A path that is a regular file is a disk
// image: it is attached to a loop device with partition scanning, and detached by the
// returned function, which the caller runs also when attachDisks fails (the devices attached
// before the failure go with it).
func attachDisks(spec string) (map[string]string, func(), error) {
	if spec == "" {
		return nil, func() {}, nil
	}
	out := map[string]string{}
	var attached []string
	detach := func() {
		for _, dev := range attached {
			exec.Command("losetup", "--detach", dev).Run()
		}
	}
	for _, kv := range strings.Split(spec, ",") {
		name, path, ok := strings.Cut(kv, "=")
		if !ok || name == "" || path == "" {
			return nil, detach, fmt.Errorf("--disk-map %q: want disk=device,...", spec)
		}
		st, err := os.Stat(path)
		if err != nil {
			return nil, detach, fmt.Errorf("--disk-map: disk %s: %w", name, err)
		}
		if st.Mode().IsRegular() {
			devs, err := attachImage(path, st.Size())
			attached = append(attached, devs...)
			if err != nil {
				return nil, detach, fmt.Errorf("--disk-map: disk %s: %w", name, err)
			}
			path = devs[0]
		}
		out[name] = path
	}
	return out, detach, nil
}

// attachImage attaches a disk image to a loop device and returns it. The devices it returns
// are attached also when it fails: losetup may attach and still fail, and what it attached
// to the image then (the devices of the image that were not there before) is returned for
// detaching.
func attachImage(path string, size int64) ([]string, error) {
	if size < sectorSize || size%sectorSize != 0 {
		// losetup would warn on stderr and attach a device shorter than the image, on which
		// the layout would not end where the model says.
		return nil, fmt.Errorf("disk image %s is %d bytes, not a whole number of %d-byte sectors: make it %d or %d bytes (truncate -s)",
			path, size, sectorSize, size/sectorSize*sectorSize, (size/sectorSize+1)*sectorSize)
	}
	before, err := loopsOf(path)
	if err != nil {
		return nil, err
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("losetup", "--find", "--show", "--partscan", path)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	dev := strings.TrimSpace(stdout.String())
	if runErr == nil && strings.HasPrefix(dev, "/dev/loop") && !strings.ContainsAny(dev, " \n") {
		return []string{dev}, nil
	}
	// Whatever losetup attached before it failed is detached by the caller.
	after, _ := loopsOf(path)
	var leaked []string
	for _, d := range after {
		if !slices.Contains(before, d) {
			leaked = append(leaked, d)
		}
	}
	if runErr == nil {
		runErr = fmt.Errorf("it printed %q, not a loop device", dev)
	}
	return leaked, fmt.Errorf("attach %s: losetup: %v: %s", path, runErr, strings.TrimSpace(stderr.String()))
}

// loopsOf lists the loop devices attached to a file.
func loopsOf(path string) ([]string, error) {
	b, err := exec.Command("losetup", "--noheadings", "--output", "NAME", "--associated", path).Output()
	if err != nil {
		return nil, fmt.Errorf("losetup --associated %s: %w", path, err)
	}
	return strings.Fields(string(b)), nil
}
