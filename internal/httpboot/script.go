package httpboot

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"
	"text/template"

	"github.com/flarecast/flarecast/internal/installplan"
)

// Script is everything a node's iPXE script says. The install server builds one per node.
type Script struct {
	// Node is the node's name, as the model gives it.
	Node string
	// Token is the node's own token; it reaches the agent on the kernel command line.
	Token string
	// ServerURL is the install server's base URL as the node reaches it (http://host:port).
	ServerURL string
	// Kernel and Initramfs are file names under /boot/ on ServerURL.
	Kernel    string
	Initramfs string
	// Args are further kernel arguments (console=ttyS0, ip=dhcp, ...), one word each.
	Args []string
	// UEFI adds initrd=<name> to the kernel line: the kernel's EFI stub finds the initramfs
	// that iPXE loaded by that name, and without it boots with none.
	UEFI bool
}

// Kernel arguments the agent reads (installplan names them all; the script sets these three
// itself, and the caller adds the others as Args).
const (
	ArgNode   = installplan.ArgNode
	ArgToken  = installplan.ArgToken
	ArgServer = installplan.ArgServer
)

// ErrBadScript marks a Script that cannot be rendered safely.
var ErrBadScript = errors.New("bad boot script")

var scriptTemplate = template.Must(template.New("ipxe").Parse(`#!ipxe
# flarecast install environment for node {{.Node}}
echo flarecast: booting {{.Node}} from {{.ServerURL}}
kernel {{.KernelURL}}{{range .Cmdline}} {{.}}{{end}}
initrd {{.InitramfsURL}}
boot
`))

// Render writes the iPXE script, or refuses a Script whose values would change its meaning:
// iPXE expands ${...} and splits on white space, so every value must be one plain word.
func (s Script) Render() ([]byte, error) {
	base, err := s.check()
	if err != nil {
		return nil, fmt.Errorf("%w for node %q: %v", ErrBadScript, s.Node, err)
	}
	var cmdline []string
	if s.UEFI {
		// iPXE names an image after the last part of its URL.
		cmdline = append(cmdline, "initrd="+path.Base(s.Initramfs))
	}
	cmdline = append(cmdline, s.Args...)
	cmdline = append(cmdline, ArgNode+"="+s.Node, ArgToken+"="+s.Token, ArgServer+"="+base)
	var b bytes.Buffer
	err = scriptTemplate.Execute(&b, map[string]any{
		"Node":         s.Node,
		"ServerURL":    base,
		"KernelURL":    base + "/boot/" + s.Kernel,
		"InitramfsURL": base + "/boot/" + s.Initramfs,
		"Cmdline":      cmdline,
	})
	if err != nil {
		return nil, fmt.Errorf("render boot script for node %q: %w", s.Node, err)
	}
	return b.Bytes(), nil
}

// check validates every value and returns the server URL without a trailing slash.
func (s Script) check() (string, error) {
	if s.Node == "" {
		return "", errors.New("no node name")
	}
	if err := word("node name", s.Node); err != nil {
		return "", err
	}
	if s.Token == "" {
		return "", errors.New("no token")
	}
	if err := word("token", s.Token); err != nil {
		// Never echo a token, not even a bad one.
		return "", errors.New("token holds a character that is not a plain word (space, quote, backslash or $)")
	}
	u, err := url.Parse(s.ServerURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("server URL %q is not http(s)://host[:port][/path]", s.ServerURL)
	}
	if err := word("server URL", s.ServerURL); err != nil {
		return "", err
	}
	for _, p := range [][2]string{{"kernel", s.Kernel}, {"initramfs", s.Initramfs}} {
		what, f := p[0], p[1]
		if f == "" {
			return "", fmt.Errorf("no %s file", what)
		}
		if err := word(what+" file", f); err != nil {
			return "", err
		}
		if !localPath(f) {
			return "", fmt.Errorf("%s file %q is not a relative path under /boot/", what, f)
		}
	}
	for _, a := range s.Args {
		if a == "" {
			return "", errors.New("empty kernel argument")
		}
		if err := word("kernel argument", a); err != nil {
			return "", err
		}
		for _, own := range []string{ArgNode, ArgToken, ArgServer, "initrd"} {
			if strings.HasPrefix(a, own+"=") {
				return "", fmt.Errorf("kernel argument %q is set by the script itself", a)
			}
		}
	}
	return strings.TrimSuffix(s.ServerURL, "/"), nil
}

// word refuses what iPXE would not take as one literal word: white space and control
// characters split or end a line, $ starts a setting expansion, quotes and backslashes quote.
func word(what, v string) error {
	for _, r := range v {
		if r <= ' ' || r == 0x7f || r > 0x7e || strings.ContainsRune("$\"'\\`", r) {
			return fmt.Errorf("%s %q holds %q, which an iPXE script cannot carry literally", what, v, r)
		}
	}
	return nil
}

func localPath(p string) bool {
	if strings.HasPrefix(p, "/") || path.Clean(p) != p {
		return false
	}
	return p != ".." && !strings.HasPrefix(p, "../")
}
