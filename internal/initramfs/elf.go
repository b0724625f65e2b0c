package initramfs

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// DefaultLibraryDirs are where the dynamic loader looks when a program names no run path,
// as Debian's glibc does without an ld.so.cache (the image has none).
var DefaultLibraryDirs = []string{
	"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib",
}

// elfDeps is what a program needs from the loader: its interpreter and shared libraries,
// found on the host, each by the path the loader will open in the image.
type elfDeps struct {
	interp string            // PT_INTERP, absolute; empty for a static program
	libs   map[string]string // path the loader opens -> host file to copy
}

// resolveELF follows DT_NEEDED from prog through every library it pulls in, the way ld.so
// searches (DT_RUNPATH or DT_RPATH with $ORIGIN, then dirs), and only accepts a library of
// prog's class and machine, so a 32-bit copy of the same name is passed over.
func resolveELF(prog string, dirs []string) (*elfDeps, error) {
	f, err := elf.Open(prog)
	if err != nil {
		return nil, fmt.Errorf("%s: not an ELF program: %w", prog, err)
	}
	defer f.Close()
	d := &elfDeps{libs: map[string]string{}}
	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		b := make([]byte, p.Filesz)
		if _, err := p.ReadAt(b, 0); err != nil {
			return nil, fmt.Errorf("%s: read interpreter: %w", prog, err)
		}
		d.interp = strings.TrimRight(string(b), "\x00")
		if !filepath.IsAbs(d.interp) {
			return nil, fmt.Errorf("%s: interpreter %q is not an absolute path", prog, d.interp)
		}
		if _, err := os.Stat(d.interp); err != nil {
			return nil, fmt.Errorf("%s: interpreter: %w", prog, err)
		}
		d.libs[d.interp] = d.interp
	}
	class, machine := f.Class, f.Machine
	var walk func(file string, f *elf.File) error
	walk = func(file string, f *elf.File) error {
		needed, err := f.ImportedLibraries()
		if err != nil {
			return fmt.Errorf("%s: dynamic section: %w", file, err)
		}
		runpath := searchPath(file, f)
		for _, name := range needed {
			found, err := findLibrary(name, append(runpath, dirs...), class, machine)
			if err != nil {
				return fmt.Errorf("%s needs %s: %w", file, name, err)
			}
			if _, seen := d.libs[found]; seen {
				continue
			}
			d.libs[found] = found
			lf, err := elf.Open(found)
			if err != nil {
				return fmt.Errorf("%s: %w", found, err)
			}
			err = walk(found, lf)
			lf.Close()
			if err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(prog, f); err != nil {
		return nil, err
	}
	return d, nil
}

func searchPath(file string, f *elf.File) []string {
	var dirs []string
	tag := elf.DT_RUNPATH
	vals, _ := f.DynString(tag)
	if len(vals) == 0 {
		vals, _ = f.DynString(elf.DT_RPATH)
	}
	origin := filepath.Dir(file)
	for _, v := range vals {
		for _, p := range strings.Split(v, ":") {
			p = strings.ReplaceAll(strings.ReplaceAll(p, "${ORIGIN}", origin), "$ORIGIN", origin)
			if p != "" {
				dirs = append(dirs, p)
			}
		}
	}
	return dirs
}

var errNoLibrary = errors.New("no such library of the program's class and machine")

func findLibrary(name string, dirs []string, class elf.Class, machine elf.Machine) (string, error) {
	cands := dirs
	if strings.Contains(name, "/") {
		cands = []string{""}
	}
	for _, dir := range cands {
		p := name
		if dir != "" {
			p = filepath.Join(dir, name)
		}
		f, err := elf.Open(p)
		if err != nil {
			continue
		}
		ok := f.Class == class && f.Machine == machine
		f.Close()
		if ok {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w (searched %s)", errNoLibrary, strings.Join(cands, ", "))
}
