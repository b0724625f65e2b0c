package initramfs

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// ModuleLoadList is where the image lists its modules, one absolute path a line, each after
// the modules it depends on: the agent loads them in that order (finit_module), no modprobe
// needed.
const ModuleLoadList = "etc/flarecast/modules"

// ErrMissingModule is returned, wrapped with the module's name and the kernel tree, when a
// module asked for is neither in modules.dep nor built into the kernel.
var ErrMissingModule = errors.New("kernel module not found")

// moduleTree is what a kernel's modules.dep and modules.builtin say.
type moduleTree struct {
	dir     string              // /lib/modules/<version>
	path    map[string]string   // module name -> path relative to dir
	deps    map[string][]string // path -> the paths it needs, as modules.dep lists them
	builtin map[string]bool     // module names built into the kernel
}

// moduleName is the name modprobe and the kernel use for a module file: its base name without
// .ko (and a compression suffix), with dashes as underscores.
func moduleName(p string) string {
	b := path.Base(p)
	if i := strings.Index(b, ".ko"); i >= 0 {
		b = b[:i]
	}
	return strings.ReplaceAll(b, "-", "_")
}

func readModuleTree(dir string) (*moduleTree, error) {
	t := &moduleTree{dir: dir, path: map[string]string{}, deps: map[string][]string{}, builtin: map[string]bool{}}
	f, err := os.Open(filepath.Join(dir, "modules.dep"))
	if err != nil {
		return nil, fmt.Errorf("kernel modules of %s: %w", dir, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		mod, deps, ok := strings.Cut(line, ":")
		if !ok || mod == "" || !validModulePath(mod) {
			return nil, fmt.Errorf("%s/modules.dep line %d: not \"module: deps\": %q", dir, n, line)
		}
		for _, d := range strings.Fields(deps) {
			if !validModulePath(d) {
				return nil, fmt.Errorf("%s/modules.dep line %d: bad dependency %q", dir, n, d)
			}
			t.deps[mod] = append(t.deps[mod], d)
		}
		t.path[moduleName(mod)] = mod
		if _, ok := t.deps[mod]; !ok {
			t.deps[mod] = nil
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s/modules.dep: %w", dir, err)
	}
	// modules.builtin is optional: a kernel with every driver built in has nothing to list.
	if b, err := os.ReadFile(filepath.Join(dir, "modules.builtin")); err == nil {
		for _, l := range strings.Fields(string(b)) {
			t.builtin[moduleName(l)] = true
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("kernel modules of %s: %w", dir, err)
	}
	return t, nil
}

// validModulePath keeps modules.dep's paths inside the module tree.
func validModulePath(p string) bool {
	return !path.IsAbs(p) && path.Clean(p) == p && !strings.HasPrefix(p, "../") && p != ".." &&
		strings.Contains(path.Base(p), ".ko")
}

// resolve gives the module files that loading names needs, each after its dependencies, and
// the names found built into the kernel (nothing to load). A name in neither place is an
// error naming all such names at once.
func (t *moduleTree) resolve(names []string) (order []string, builtin []string, err error) {
	var missing []string
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(p string, chain []string) error
	visit = func(p string, chain []string) error {
		switch state[p] {
		case 2:
			return nil
		case 1:
			return fmt.Errorf("kernel modules of %s: dependency cycle: %s", t.dir, strings.Join(append(chain, p), " -> "))
		}
		deps, ok := t.deps[p]
		if !ok {
			return fmt.Errorf("kernel modules of %s: %s needs %s, which modules.dep does not list", t.dir, chain[len(chain)-1], p)
		}
		state[p] = 1
		// modules.dep lists a module's dependencies so that modprobe loads them last to first.
		for _, d := range slices.Backward(deps) {
			if err := visit(d, append(chain, p)); err != nil {
				return err
			}
		}
		state[p] = 2
		order = append(order, p)
		return nil
	}
	for _, n := range names {
		n = strings.ReplaceAll(n, "-", "_")
		if p, ok := t.path[n]; ok {
			if err := visit(p, nil); err != nil {
				return nil, nil, err
			}
			continue
		}
		if t.builtin[n] {
			builtin = append(builtin, n)
			continue
		}
		missing = append(missing, n)
	}
	if len(missing) > 0 {
		return nil, nil, fmt.Errorf("%w in %s (neither in modules.dep nor built in): %s", ErrMissingModule, t.dir, strings.Join(missing, ", "))
	}
	sort.Strings(builtin)
	return order, slices.Compact(builtin), nil
}

// depFile renders modules.dep for the modules of the image only, so that busybox modprobe
// works there too.
func (t *moduleTree) depFile(order []string) []byte {
	sorted := slices.Clone(order)
	sort.Strings(sorted)
	var b strings.Builder
	for _, p := range sorted {
		b.WriteString(p + ":")
		for _, d := range t.deps[p] {
			b.WriteString(" " + d)
		}
		b.WriteString("\n")
	}
	return []byte(b.String())
}
