package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/flarecast/flarecast/internal/installplan"
)

// persistentScript is the AfterServices script of the Persistent root: it writes a file,
// hard-links it and a file of the tree, sets setuid and setgid on a directory, the sticky bit
// on another and setuid on a file, makes files as another user (in a plain and in a setgid
// directory), and prints what the node's kernel sees. The stages run once
// per digest, so it also leaves a unit of the node's own (in the persistent root too) that
// prints at every later boot what it finds of them.
const persistentScript = `#!/bin/sh
set -e
d=/var/lib/flarecast-e2e
mkdir -p $d/dir $d/tmp
echo "written by $(hostname)" > $d/mark
ln $d/mark $d/mark.link
ln /etc/debian_version /etc/debian_version.link
chmod u+s,g+s $d/dir
chmod +t $d/tmp
cp /usr/bin/true $d/suid
chmod u+s $d/suid
mkdir -m 1777 $d/open
mkdir -m 2777 $d/sgid
chgrp 4242 $d/sgid
setpriv --reuid=1234 --regid=5678 --clear-groups sh -c "echo mine > $d/open/owned; echo mine > $d/sgid/owned; mkdir $d/sgid/sub"
cat > $d/again <<'EOF'
#!/bin/sh
d=/var/lib/flarecast-e2e
echo "flarecast-e2e: again on $(hostname): $(cat $d/mark), $(stat -c %h $d/mark.link) $(stat -c %A $d/dir $d/tmp $d/suid | tr '\n' ' ')" > /dev/console
EOF
cat > /etc/systemd/system/flarecast-e2e-again.service <<'EOF'
[Unit]
Description=flarecast e2e: what a later boot of the persistent root finds
[Service]
Type=oneshot
ExecStart=/bin/sh /var/lib/flarecast-e2e/again
[Install]
WantedBy=multi-user.target
EOF
mkdir -p /etc/systemd/system/multi-user.target.wants
ln -s ../flarecast-e2e-again.service /etc/systemd/system/multi-user.target.wants/flarecast-e2e-again.service
sync
echo "flarecast-e2e: persistent on $(hostname): $(stat -c '%i %h' $d/mark $d/mark.link /etc/debian_version /etc/debian_version.link | tr '\n' ' ')$(stat -c %A $d/dir $d/tmp $d/suid | tr '\n' ' ')" > /dev/console
`

// persistentModel is disklessModel with the group's writes Persistent and the script above
// as its AfterServices script.
func persistentModel(t *testing.T) string {
	m := strings.Replace(disklessModel, "  arch: amd64\n  configuration:", "  arch: amd64\n  diskless: {root: NFS, writes: Persistent}\n  configuration:", 1)
	i := strings.Index(m, "      - name: 50-after")
	j := strings.Index(m, "  nodes:\n")
	if i < 0 || j < i {
		t.Fatal("disklessModel changed: no 50-after script before its nodes")
	}
	return m[:i] + "      - name: 50-after\n        stage: AfterServices\n        order: 50\n        source: {inline: " + strconv.Quote(persistentScript) + "}\n" + m[j:]
}

// TestADisklessNodeBootsAPersistentNFSRootToRunning: n5 of a group with writes: Persistent
// boots with the node's own read-write export of the install server (the merged view of
// internal/nfsroot) as its root, mounted by the Debian kernel's NFS client; its
// AfterServices script writes a file, makes hard links (of its own file and of a file of
// the tree), sets setuid/setgid on a directory, the sticky bit on another and setuid on a
// file. The node's kernel sees one inode with two links per pair and the bits; the install
// server's per-node upper directory holds them so (and the group's tree none of them). The
// node is then powered off and boots again: FirstBoot does not run again, and the unit the
// script left in the root finds the file, the link and the bits.
func TestADisklessNodeBootsAPersistentNFSRootToRunning(t *testing.T) {
	r := startDiskless(t, persistentModel(t), installplan.RootNFS)
	r.boot(t, "1024", "serial-persistent-1.log", "")
	console := readFile(t, r.serial)
	seen := regexp.MustCompile(`flarecast-e2e: persistent on n5: (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\S+) (\S+) (\S+)`).FindStringSubmatch(console)
	if seen == nil {
		t.Fatalf("the AfterServices script printed no result:\n%s", tail(console))
	}
	if seen[1] != seen[3] || seen[2] != "2" || seen[4] != "2" || seen[5] != seen[7] || seen[6] != "2" || seen[8] != "2" {
		t.Errorf("the node sees its hard links as %q, want one inode with 2 links per pair", seen[0])
	}
	if got := strings.Join(seen[9:], " "); got != "drwsr-sr-x drwxr-xr-t -rwsr-xr-x" {
		t.Errorf("the node sees the modes %q, want drwsr-sr-x drwxr-xr-t -rwsr-xr-x", got)
	}

	upper := filepath.Join(r.state, "nfs", "nodes", r.ns, "diskless", "n5", "upper")
	stat := func(p string) syscall.Stat_t {
		var st syscall.Stat_t
		if err := syscall.Lstat(filepath.Join(upper, p), &st); err != nil {
			t.Fatalf("the node's directory on the install server: %v", err)
		}
		return st
	}
	if b, err := os.ReadFile(filepath.Join(upper, "var/lib/flarecast-e2e/mark")); err != nil || string(b) != "written by n5\n" {
		t.Errorf("the install server holds the node's file as %q (%v)", b, err)
	}
	for _, pair := range [][2]string{{"var/lib/flarecast-e2e/mark", "var/lib/flarecast-e2e/mark.link"}, {"etc/debian_version", "etc/debian_version.link"}} {
		a, b := stat(pair[0]), stat(pair[1])
		if a.Ino != b.Ino || a.Nlink != 2 {
			t.Errorf("on the install server %s is inode %d (%d links) and %s inode %d: want one inode with 2 links", pair[0], a.Ino, a.Nlink, pair[1], b.Ino)
		}
	}
	for p, want := range map[string]uint32{"var/lib/flarecast-e2e/dir": 0o6755, "var/lib/flarecast-e2e/tmp": 0o1755, "var/lib/flarecast-e2e/suid": 0o4755} {
		if got := stat(p).Mode & 0o7777; got != want {
			t.Errorf("on the install server %s has mode %o, want %o", p, got, want)
		}
	}
	// What a process of uid 1234, gid 5678 made is theirs (the node's AUTH_UNIX credential),
	// with a setgid directory's group, and setgid again for a directory made in it.
	for p, want := range map[string][3]uint32{
		"var/lib/flarecast-e2e/open/owned": {1234, 5678, 0},
		"var/lib/flarecast-e2e/sgid/owned": {1234, 4242, 0},
		"var/lib/flarecast-e2e/sgid/sub":   {1234, 4242, syscall.S_ISGID},
	} {
		st := stat(p)
		if st.Uid != want[0] || st.Gid != want[1] || st.Mode&syscall.S_ISGID != want[2] {
			t.Errorf("on the install server %s is %d:%d mode %o, want %d:%d (setgid %v)", p, st.Uid, st.Gid, st.Mode&0o7777, want[0], want[1], want[2] != 0)
		}
	}
	trees, _ := filepath.Glob(filepath.Join(r.state, "nfs", "trees", "*", "var", "lib", "flarecast-e2e"))
	if len(trees) > 0 {
		t.Errorf("the node's writes reached the group's tree: %v", trees)
	}

	first := stat("root/first")
	r.powerOff()
	r.boot(t, "1024", "serial-persistent-2.log", "flarecast-e2e: again on n5:")
	console = readFile(t, r.serial)
	if want := "flarecast-e2e: again on n5: written by n5, 2 drwsr-sr-x drwxr-xr-t -rwsr-xr-x"; !strings.Contains(console, want) {
		t.Errorf("after a power cycle the console does not show %q:\n%s", want, tail(console))
	}
	if again := stat("root/first"); again.Mtim != first.Mtim {
		t.Errorf("the FirstBoot script ran again at the second boot (root/first changed at %v, was %v)", again.Mtim, first.Mtim)
	}
}
