package httpboot

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the rendered scripts")

func exampleScript() Script {
	return Script{
		Node:      "n1",
		Token:     "tok-2f9c1e7ab0d4",
		ServerURL: "http://198.18.0.1:8080",
		Kernel:    "vmlinuz",
		Initramfs: "initramfs.img",
		Args:      []string{"console=ttyS0,115200n8", "quiet"},
	}
}

// TestScriptGolden: the rendered iPXE scripts, byte for byte, for BIOS and UEFI nodes.
// Regenerate with: go test ./internal/httpboot/ -run TestScriptGolden -update
func TestScriptGolden(t *testing.T) {
	uefi := exampleScript()
	uefi.UEFI = true
	uefi.Initramfs = "x86_64/initramfs-6.1.img"
	uefi.ServerURL = "http://198.18.0.1:8080/"
	bare := exampleScript()
	bare.Args = nil
	for name, s := range map[string]Script{"bios": exampleScript(), "uefi": uefi, "no-args": bare} {
		t.Run(name, func(t *testing.T) {
			got, err := s.Render()
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", name+".ipxe.golden")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("rendered script differs from %s (run with -update if the change is meant):\n--- got\n%s--- want\n%s", golden, got, want)
			}
		})
	}
}

// TestScriptRefusesUnsafeValues: a value that iPXE would expand, split or quote, or that
// would point outside /boot/ or override the script's own arguments, is refused with a reason;
// a bad token is never echoed.
func TestScriptRefusesUnsafeValues(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Script)
		why    string
	}{
		{"no node", func(s *Script) { s.Node = "" }, "no node name"},
		{"node with expansion", func(s *Script) { s.Node = "n${net0/mac}" }, "node name"},
		{"node with space", func(s *Script) { s.Node = "n 1" }, "node name"},
		{"no token", func(s *Script) { s.Token = "" }, "no token"},
		{"token with newline", func(s *Script) { s.Token = "secret\nshell" }, "token holds"},
		{"ftp server", func(s *Script) { s.ServerURL = "ftp://198.18.0.1/" }, "is not http(s)"},
		{"server with query", func(s *Script) { s.ServerURL = "http://198.18.0.1/?a=b" }, "is not http(s)"},
		{"kernel outside boot", func(s *Script) { s.Kernel = "../vmlinuz" }, "not a relative path"},
		{"absolute initramfs", func(s *Script) { s.Initramfs = "/initrd" }, "not a relative path"},
		{"no kernel", func(s *Script) { s.Kernel = "" }, "no kernel file"},
		{"argument with quote", func(s *Script) { s.Args = []string{`a="b c"`} }, "kernel argument"},
		{"empty argument", func(s *Script) { s.Args = []string{""} }, "empty kernel argument"},
		{"argument overriding token", func(s *Script) { s.Args = []string{"flarecast.token=other"} }, "set by the script itself"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := exampleScript()
			tc.change(&s)
			_, err := s.Render()
			if !errors.Is(err, ErrBadScript) || !strings.Contains(err.Error(), tc.why) {
				t.Fatalf("Render: %v; want ErrBadScript saying %q", err, tc.why)
			}
			if s.Token != "" && strings.Contains(err.Error(), s.Token) {
				t.Errorf("error %q shows the token", err)
			}
		})
	}
}
