package tarball

import (
	"archive/tar"
	"strings"
	"testing"
	"time"
)

func TestComparePathsPutsASubtreeBeforeTheNextSibling(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"a", "a", 0},
		{"a/", "a", 0},
		{"./", "a", -1},
		{"a", "a/b", -1},
		{"a/b", "a.txt", -1}, // byte-wise '.' < '/', but a's subtree comes first
		{"a/b", "a-b", -1},
		{"a.txt", "a/b", 1},
		{"a/z", "b", -1},
		{"B", "a", -1}, // byte order, not locale
		{"a/b/c", "a/bc", -1},
	} {
		if got := ComparePaths(tc.a, tc.b); got != tc.want {
			t.Errorf("ComparePaths(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestCleanNameRefusesTraversal(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{in: "./a/b", want: "a/b"},
		{in: "/a//b/", want: "a/b"},
		{in: ".", want: "."},
		{in: "./", want: "."},
		{in: "a/./b", want: "a/b"},
		{in: "../a", err: `".."`},
		{in: "a/../../b", err: `".."`},
		{in: "a/..", err: `".."`},
		{in: "", err: "empty"},
		{in: "a\x00b", err: "NUL"},
	} {
		got, err := CleanName(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("CleanName(%q) = %q, %v; want an error saying %s", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("CleanName(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestNormalizeDropsHostStateAndKeepsTheImage(t *testing.T) {
	hdr := &tar.Header{
		Typeflag: tar.TypeReg, Name: "./usr/bin/ping", Size: 3, Mode: 0o104755,
		Uid: 0, Gid: 0, Uname: "root", Gname: "wheel",
		ModTime: time.Unix(1700000000, 5), AccessTime: time.Now(), ChangeTime: time.Now(),
		Devmajor: 8, Devminor: 1, Linkname: "junk",
		PAXRecords: map[string]string{
			"SCHILY.xattr.security.capability": "cap",
			"SCHILY.xattr.security.selinux":    "system_u:object_r:bin_t",
			"SCHILY.xattr.user.mime":           "x",
			"SCHILY.xattr.trusted.overlay":     "y",
			"comment":                          "built on host42",
			"atime":                            "1.5",
		},
	}
	if err := Normalize(hdr, 86400, false); err != nil {
		t.Fatal(err)
	}
	if hdr.Name != "usr/bin/ping" || hdr.Mode != 0o4755 || hdr.Uname != "" || hdr.Gname != "" ||
		!hdr.ModTime.Equal(time.Unix(86400, 0)) || !hdr.AccessTime.IsZero() || !hdr.ChangeTime.IsZero() ||
		hdr.Devmajor != 0 || hdr.Devminor != 0 || hdr.Linkname != "" || hdr.Format != tar.FormatPAX {
		t.Fatalf("not normalized: %+v", hdr)
	}
	want := map[string]string{"SCHILY.xattr.security.capability": "cap", "SCHILY.xattr.user.mime": "x"}
	if len(hdr.PAXRecords) != len(want) {
		t.Fatalf("records %q, want %q", hdr.PAXRecords, want)
	}
	for k, v := range want {
		if hdr.PAXRecords[k] != v {
			t.Fatalf("records %q, want %q", hdr.PAXRecords, want)
		}
	}
}

func TestNormalizeNamesDirectoriesAndLinks(t *testing.T) {
	for _, tc := range []struct {
		name     string
		hdr      tar.Header
		wantName string
		wantLink string
		err      string
	}{
		{name: "root", hdr: tar.Header{Typeflag: tar.TypeDir, Name: "."}, wantName: "./"},
		{name: "directory gets a slash", hdr: tar.Header{Typeflag: tar.TypeDir, Name: "/etc"}, wantName: "etc/"},
		{name: "hard link target cleaned", hdr: tar.Header{Typeflag: tar.TypeLink, Name: "b", Linkname: "./a", Size: 9}, wantName: "b", wantLink: "a"},
		{name: "symlink target kept verbatim", hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: "l", Linkname: "/abs/../x"}, wantName: "l", wantLink: "/abs/../x"},
		{name: "hard link out of the tree", hdr: tar.Header{Typeflag: tar.TypeLink, Name: "b", Linkname: "../a"}, err: "bad hard link"},
		{name: "root that is a file", hdr: tar.Header{Typeflag: tar.TypeReg, Name: "./"}, err: "root must be a directory"},
		{name: "GNU sparse", hdr: tar.Header{Typeflag: tar.TypeGNUSparse, Name: "s"}, err: "unsupported entry type"},
		{name: "empty symlink", hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: "l"}, err: "empty symlink"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := tc.hdr
			err := Normalize(&hdr, 0, false)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || hdr.Name != tc.wantName || hdr.Linkname != tc.wantLink || (hdr.Typeflag != tar.TypeReg && hdr.Size != 0) {
				t.Fatalf("got %q -> %q size %d, %v", hdr.Name, hdr.Linkname, hdr.Size, err)
			}
		})
	}
}

func TestSourceDateEpochFromEnv(t *testing.T) {
	for _, tc := range []struct {
		env  string
		want int64
		err  bool
	}{{"", 0, false}, {"1700000000", 1700000000, false}, {"-1", 0, true}, {"yesterday", 0, true}} {
		t.Setenv("SOURCE_DATE_EPOCH", tc.env)
		got, err := SourceDateEpochFromEnv()
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("SOURCE_DATE_EPOCH=%q: %d, %v", tc.env, got, err)
		}
	}
}
