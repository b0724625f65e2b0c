package archiveref

import (
	"fmt"

	"github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/internal/model"
)

// Reasons of the rules, as the FlashArchive controller sets them in its Ready condition.
const (
	// ReasonBaseNotFound: the archive named as a base does not exist.
	ReasonBaseNotFound model.Reason = "BaseNotFound"
	// ReasonInvalidSpec: the archive named as a base is Deployable, which nothing derives from.
	ReasonInvalidSpec model.Reason = "InvalidSpec"
	// ReasonArchMismatch: the base's root file system is of another arch than the group's nodes.
	ReasonArchMismatch model.Reason = "ArchMismatch"
)

// Problem is a broken rule: its reason, and a message that says what to change. The caller
// says where (the field of its object) the way its report does.
type Problem struct {
	Reason  model.Reason
	Message string
}

// Lookup returns the FlashArchive of a name in the namespace concerned, or nil (and no error)
// when there is none.
type Lookup func(name string) (*v1alpha1.FlashArchive, error)

// maxChain bounds a walk down a chain of bases. A chain is a Generic archive and the Configured
// ones layered on it; the bound only stops a cycle of baseRefs, which no archive of the chain
// could be built from anyway.
const maxChain = 32

// CheckBase checks the archive found under name (nil when there is none) as the base of a
// derived archive: a deployable's base is its group's spec.archiveRef.
func CheckBase(name string, base *v1alpha1.FlashArchive) *Problem {
	switch {
	case base == nil:
		return &Problem{ReasonBaseNotFound, fmt.Sprintf("FlashArchive %s is not found", name)}
	case base.Spec.Type == v1alpha1.ArchiveDeployable:
		return &Problem{ReasonInvalidSpec, fmt.Sprintf("FlashArchive %s is Deployable; derive from a Generic or Configured archive", name)}
	}
	return nil
}

// Arch is the architecture of an archive's root file system: a Generic archive's spec.arch,
// else that of the archive it derives from; "" when the chain is broken (a base not there, or
// a cycle), which is no verdict: the build of a derived archive waits for its base anyway.
func Arch(fa *v1alpha1.FlashArchive, lookup Lookup) (v1alpha1.Arch, error) {
	for range maxChain {
		if fa.Spec.Type == v1alpha1.ArchiveGeneric || fa.Spec.BaseRef == nil {
			return fa.Spec.Arch, nil
		}
		base, err := lookup(fa.Spec.BaseRef.Name)
		if err != nil {
			return "", fmt.Errorf("get FlashArchive %s: %w", fa.Spec.BaseRef.Name, err)
		}
		if base == nil {
			return "", nil
		}
		fa = base
	}
	return "", nil
}

// CheckArch checks that base, whose root file system is of arch (as Arch gives it), suits the
// nodes of group. An unknown arch ("") passes: there is nothing to compare yet.
func CheckArch(base *v1alpha1.FlashArchive, arch v1alpha1.Arch, group *v1alpha1.NodesGroup) *Problem {
	if arch == "" || arch == group.Spec.Arch {
		return nil
	}
	return &Problem{ReasonArchMismatch, fmt.Sprintf("FlashArchive %s holds a root file system for %s, but NodesGroup %s runs %s nodes: point the group's spec.archiveRef at an %s archive, or change its spec.arch",
		base.Name, arch, group.Name, group.Spec.Arch, group.Spec.Arch)}
}
