package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// attachDisks reads --disk-map (disk=path,...). A path that is a regular file is a disk
// image: it is attached to a loop device with partition scanning, and detached by the
// returned function.
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
			b, err := exec.Command("losetup", "--find", "--show", "--partscan", path).CombinedOutput()
			if err != nil {
				return nil, detach, fmt.Errorf("--disk-map: attach %s: %v: %s", path, err, strings.TrimSpace(string(b)))
			}
			path = strings.TrimSpace(string(b))
			attached = append(attached, path)
		}
		out[name] = path
	}
	return out, detach, nil
}
