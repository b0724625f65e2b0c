package manifest

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Read decodes the manifests of each path: a file, a directory (read recursively for *.yaml,
// *.yml and *.json, in lexical order), or "-" for stdin.
func Read(paths []string, stdin io.Reader) ([]Object, []error) {
	var objs []Object
	var errs []error
	for _, p := range paths {
		files, err := expand(p)
		if err != nil {
			errs = append(errs, &Error{File: p, Err: err})
			continue
		}
		for _, f := range files {
			o, e := readFile(f, stdin)
			objs = append(objs, o...)
			errs = append(errs, e...)
		}
	}
	return objs, errs
}

func expand(p string) ([]string, error) {
	if p == "-" {
		return []string{p}, nil
	}
	info, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		return []string{p}, nil
	}
	var files []string
	err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if IsKustomization(path) {
			return nil
		}
		switch strings.ToLower(filepath.Ext(path)) {
		case ".yaml", ".yml", ".json":
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("walk: %w", err)
	}
	sort.Strings(files)
	return files, nil
}

func readFile(path string, stdin io.Reader) ([]Object, []error) {
	if path == "-" {
		return Decode("-", stdin)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, []error{&Error{File: path, Err: err}}
	}
	defer f.Close()
	return Decode(path, f)
}

// IsKustomization reports whether a file is kustomize's, not a manifest: a directory walk
// skips it, as kubectl apply -k reads it and -f does not apply it.
func IsKustomization(path string) bool {
	switch filepath.Base(path) {
	case "kustomization.yaml", "kustomization.yml", "Kustomization":
		return true
	}
	return false
}
