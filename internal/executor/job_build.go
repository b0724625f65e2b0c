package executor

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

// BuildPod is how a Job gives a build source (Spec.BuildRoot) what its build root needs:
// chroot, mount and PID namespaces with a /proc of their own, and files of every owner.
type BuildPod string

const (
	// BuildPodUserNamespace runs the build as root of a user namespace of its own
	// (hostUsers: false): the capabilities it is given hold inside the pod only, and it is an
	// unprivileged user of the node. Needs nodes and a runtime with user namespaces
	// (Kubernetes 1.33+, idmapped mounts) and the ProcMountType feature.
	BuildPodUserNamespace BuildPod = "userns"
	// BuildPodPrivileged runs the build in a privileged container: root on the node.
	BuildPodPrivileged BuildPod = "privileged"
)

// buildCapabilities are what a build root needs in a user-namespaced pod, every other
// capability dropped: CHOWN, DAC_OVERRIDE, FOWNER, FSETID (extracting and installing files of
// every owner and mode, setuid bits kept), SETUID and SETGID (apt's _apt sandbox, maintainer
// scripts that run as a user), SETFCAP (file capabilities: ping's cap_net_raw), SYS_CHROOT
// (chroot into the build root), SYS_ADMIN (its mount and PID namespaces, its /proc and the
// bind mounts of /dev's nodes over their stand-ins). No MKNOD: a user namespace never may.
var buildCapabilities = []corev1.Capability{"CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "SETUID", "SETGID", "SETFCAP", "SYS_CHROOT", "SYS_ADMIN"}

func (m BuildPod) validate() error {
	switch m {
	case BuildPodUserNamespace, BuildPodPrivileged:
		return nil
	}
	return fmt.Errorf("job executor: build pod %q: want %s or %s", m, BuildPodUserNamespace, BuildPodPrivileged)
}

// BuildPodSecurity is the security context of the pod and of its build container for a build
// source, as docs/security.md states it.
func BuildPodSecurity(m BuildPod) (*corev1.PodSecurityContext, *corev1.SecurityContext, *bool) {
	root, no, yes := int64(0), false, true
	pod := &corev1.PodSecurityContext{RunAsUser: &root, RunAsGroup: &root, RunAsNonRoot: &no,
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
	if m == BuildPodPrivileged {
		return pod, &corev1.SecurityContext{Privileged: &yes, ReadOnlyRootFilesystem: &yes}, nil
	}
	unmasked := corev1.UnmaskedProcMount
	// The runtime's default AppArmor profile denies mount; the RuntimeDefault seccomp profile
	// lets mount and unshare through once SYS_ADMIN is granted.
	pod.AppArmorProfile = &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeUnconfined}
	c := &corev1.SecurityContext{
		Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}, Add: append([]corev1.Capability(nil), buildCapabilities...)},
		// The API server refuses allowPrivilegeEscalation: false beside SYS_ADMIN.
		AllowPrivilegeEscalation: &yes, ReadOnlyRootFilesystem: &yes,
		// The runtime masks parts of the pod's /proc, and the kernel then refuses the fresh
		// procfs that the build root's PID namespace needs.
		ProcMount: &unmasked,
	}
	return pod, c, &no
}
