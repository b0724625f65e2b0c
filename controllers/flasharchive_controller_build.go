package controllers

import (
	"context"
	"fmt"

	"github.com/opencontainers/go-digest"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/internal/executor"
	"github.com/flarecast/flarecast/internal/executor/build"
)

// CustomizedAnnotation ends the pause of a build source (spec.source.build.pause): set to any
// value, the build root is captured as the person left it.
const CustomizedAnnotation = "flarecast.io/customized"

// DefaultSourceDateEpoch is a build source's time when its spec gives none: the Debian base
// recipe's (hack/debian-base.sh), so that a base and what is built on it agree.
const DefaultSourceDateEpoch = 1700000000

// indexArchiveBuildGroup finds the build sources that install a NodesGroup's software: the
// group's change (a package added) rebuilds exactly them.
const indexArchiveBuildGroup = "spec.source.build.nodesGroupRef.name"

func buildGroupOf(fa *fcv1.FlashArchive) string {
	if s := fa.Spec.Source; s != nil && s.Build != nil && s.Build.NodesGroupRef != nil {
		return s.Build.NodesGroupRef.Name
	}
	return ""
}

// planBuild resolves a build source: the base, and the software of the group it names, read
// now (a change of the group's software is a change of the inputs, hence a new build).
func planBuild(ctx context.Context, r *FlashArchiveReconciler, fa *fcv1.FlashArchive, in *build.Inputs) (plan, error) {
	src := fa.Spec.Source.Build
	m := &build.Master{Repositories: src.Repositories, Pause: src.Pause == fcv1.BuildPauseBeforeCapture,
		SourceDateEpoch: src.SourceDateEpoch}
	if m.SourceDateEpoch == 0 {
		m.SourceDateEpoch = DefaultSourceDateEpoch
	}
	if m.Pause {
		if c, ok := r.Executor.(executor.Customizer); !ok {
			return failed(ReasonPauseNotSupported, "spec.source.build.pause: this manager's executor cannot pause a build"), nil
		} else if err := c.CanPause(); err != nil {
			return failed(ReasonPauseNotSupported, "spec.source.build.pause: %v", err), nil
		}
	}
	var creds []byte
	switch b := src.Base; {
	case b.Image != nil:
		m.Base.Image = &build.Image{Ref: b.Image.Ref}
		if ref := b.Image.PullSecretRef; ref != nil {
			var err error
			creds, err = content(ctx, r.APIReader, fa.Namespace,
				fcv1.ConfigSource{SecretKeyRef: &fcv1.KeyReference{Name: ref.Name, Key: corev1.DockerConfigJsonKey}}, "spec.source.build.base.image.pullSecretRef")
			if p, ok := missing(err); ok {
				return p, nil
			}
			if err != nil {
				return plan{}, err
			}
		}
	case b.Rootfs != nil:
		m.Base.Rootfs = &build.Rootfs{URL: b.Rootfs.URL, Digest: digest.Digest(b.Rootfs.Digest)}
	case b.Debian != nil:
		m.Base.Debian = &build.Debian{Suite: b.Debian.Suite, Mirror: b.Debian.Mirror, Variant: b.Debian.Variant}
	default:
		return failed(ReasonInvalidSpec, "spec.source.build.base: set one of image, rootfs, debian"), nil
	}
	if ref := src.NodesGroupRef; ref != nil {
		var g fcv1.NodesGroup
		if err := r.Get(ctx, client.ObjectKey{Namespace: fa.Namespace, Name: ref.Name}, &g); err != nil {
			if apierrors.IsNotFound(err) {
				return waiting(ReasonNodesGroupNotFound, "spec.source.build.nodesGroupRef: NodesGroup %s is not found", ref.Name), nil
			}
			return plan{}, fmt.Errorf("get NodesGroup %s: %w", ref.Name, err)
		}
		if g.Spec.Arch != "" && g.Spec.Arch != fa.Spec.Arch {
			return failed(ReasonArchMismatch, "spec.source.build.nodesGroupRef: NodesGroup %s runs %s, and this archive is built for %s", g.Name, g.Spec.Arch, fa.Spec.Arch), nil
		}
		for _, p := range g.Spec.Software.Packages {
			m.Packages = append(m.Packages, build.Package{Name: p.Name, Version: p.Version})
		}
		m.Corrections = g.Spec.Software.Corrections
	}
	in.Build = m
	return plan{inputs: in, dockerConfig: creds}, nil
}

// archivesBuildingGroup maps a NodesGroup to the build sources that install its software.
func (r *FlashArchiveReconciler) archivesBuildingGroup(ctx context.Context, o client.Object) []reconcile.Request {
	items, err := archivesReferencing(ctx, r.Client, indexArchiveBuildGroup, o.GetNamespace(), o.GetName())
	if err != nil {
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(items))
	for _, fa := range items {
		reqs = append(reqs, requestFor(fa.Namespace, fa.Name))
	}
	return reqs
}

// customization is the status of a build paused for customization: AwaitingCustomization with
// the shell to open and the annotation that ends the pause, or, once the annotation names this
// build, the pause ended (the annotation's value is the build's name, so that one left from an
// earlier build does not skip the pause of the next).
func (r *FlashArchiveReconciler) customization(ctx context.Context, fa *fcv1.FlashArchive, job, root string) (fcv1.ArchivePhase, string, string, string, error) {
	c, ok := r.Executor.(executor.Customizer)
	if !ok { // planBuild refuses a pause then: a build of another manager's
		return fcv1.ArchiveAwaitingCustomization, ReasonAwaitingCustomization,
			fmt.Sprintf("build %s waits for customization of %s, but this executor cannot open a shell in it or resume it", job, root), "", nil
	}
	if fa.Annotations[CustomizedAnnotation] == job {
		if err := c.Resume(ctx, fa.Namespace, job); err != nil {
			return "", "", "", "", err
		}
		return fcv1.ArchiveBuilding, ReasonBuilding, fmt.Sprintf("build %s resumed (%s=%s): capturing the build root", job, CustomizedAnnotation, job), "", nil
	}
	shell, err := c.ShellCommand(ctx, fa.Namespace, job, fa.Name, root)
	if err != nil {
		return "", "", "", "", err
	}
	return fcv1.ArchiveAwaitingCustomization, ReasonAwaitingCustomization,
		fmt.Sprintf("build %s waits for customization of its build root: open a shell with `%s`, then capture it with `kubectl annotate -n %s flasharchive %s %s=%s --overwrite`",
			job, shell, fa.Namespace, fa.Name, CustomizedAnnotation, job), shell, nil
}
