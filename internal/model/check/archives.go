package check

import (
	"fmt"

	"github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/internal/model/archiveref"
)

// checkArchives applies the FlashArchive controller's rules (package archiveref, the same
// functions the controller calls) to the archives of the manifests: the archive a NodesGroup
// names in spec.archiveRef, and the base of each derived archive, must not be Deployable, and
// the root file system at the bottom of the chain must be of the group's arch. An archive the
// manifests do not hold is missing, not wrong: it may live elsewhere.
func (c *checker) checkArchives() {
	for _, k := range c.order {
		e := c.entries[k]
		if e.rejected {
			continue // its own errors are reported; rules built on it would guess
		}
		switch t := e.typed.(type) {
		case *v1alpha1.NodesGroup:
			if t.Spec.ArchiveRef != nil {
				c.checkGroupArchive(k, t)
			}
		case *v1alpha1.FlashArchive:
			if t.Spec.Type != v1alpha1.ArchiveGeneric && t.Spec.BaseRef != nil {
				c.checkArchiveBase(k, t)
			}
		}
	}
}

// checkGroupArchive checks the archive a group runs, as the controller does when it plans the
// group's deployable (whose base is the group's spec.archiveRef).
func (c *checker) checkGroupArchive(k key, g *v1alpha1.NodesGroup) {
	const field = "spec.archiveRef"
	name := g.Spec.ArchiveRef.Name
	fa, present := c.archive(k.namespace, name)
	if !present {
		c.add(c.entries[k].src.File, k, ReasonArchiveNotChecked, field, "", fmt.Sprintf("FlashArchive %s is not in the checked manifests, so its type, base and arch were not checked against this group: check it with its FlashArchive", name), SeverityMissing)
		return
	}
	if fa == nil {
		return // rejected: its own errors say why
	}
	c.checkRun(k, field, fa, g)
}

// checkArchiveBase checks a derived archive's base and, for a Deployable, that the base suits
// its group, as the controller does when it plans the archive.
func (c *checker) checkArchiveBase(k key, fa *v1alpha1.FlashArchive) {
	const field = "spec.baseRef"
	name := fa.Spec.BaseRef.Name
	base, present := c.archive(k.namespace, name)
	if !present {
		c.add(c.entries[k].src.File, k, ReasonArchiveNotChecked, field, "", fmt.Sprintf("FlashArchive %s is not in the checked manifests, so this archive's base and arch were not checked: check it with its base", name), SeverityMissing)
		return
	}
	if base == nil {
		return
	}
	if fa.Spec.Type != v1alpha1.ArchiveDeployable || fa.Spec.NodesGroupRef == nil {
		c.checkRun(k, field, base, nil)
		return
	}
	g, _ := c.typed(key{k.namespace, "NodesGroup", fa.Spec.NodesGroupRef.Name}).(*v1alpha1.NodesGroup)
	c.checkRun(k, field, base, g)
}

// checkRun files, against the object k at field, what is wrong with deriving from base, and,
// when group is given, with running base on the group's nodes.
func (c *checker) checkRun(k key, field string, base *v1alpha1.FlashArchive, group *v1alpha1.NodesGroup) {
	file := c.entries[k].src.File
	if p := archiveref.CheckBase(base.Name, base); p != nil {
		c.add(file, k, p.Reason, field, "", p.Message, SeverityError)
		return
	}
	if group == nil {
		return
	}
	arch, err := archiveref.Arch(base, func(name string) (*v1alpha1.FlashArchive, error) {
		fa, _ := c.archive(k.namespace, name)
		return fa, nil
	})
	if err != nil {
		return // the lookup above never fails
	}
	if p := archiveref.CheckArch(base, arch, group); p != nil {
		c.add(file, k, p.Reason, field, "", p.Message, SeverityError)
	}
}

// archive returns the readable FlashArchive of a name in the manifests (nil when the server
// would reject it) and whether the manifests hold one by that name at all.
func (c *checker) archive(namespace, name string) (*v1alpha1.FlashArchive, bool) {
	e, ok := c.entries[key{namespace, "FlashArchive", name}]
	if !ok {
		return nil, false
	}
	fa, _ := e.typed.(*v1alpha1.FlashArchive)
	if e.rejected {
		fa = nil
	}
	return fa, true
}
