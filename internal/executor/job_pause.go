package executor

import (
	"context"
	"errors"
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// A build pod that pauses for customization stays up with its build root in its work
// directory. A person reaches it with kubectl exec (the pod's own flarecast opens the shell,
// with the namespaces and device binds the build's steps have); the pod, which has no token
// for the API server, hears of the resume in the answer to its progress reports, which it
// keeps sending while it waits. So a pause needs the build-progress endpoint.

// buildContainer is the build pod's one container.
const buildContainer = "build"

// errNoProgress is why a Job executor without the build-progress endpoint cannot pause.
var errNoProgress = errors.New("the job executor pauses a build only with the build-progress endpoint (the manager's --build-progress-url), through which the paused pod tells its build root and hears of the resume")

// CanPause implements Customizer.
func (e *Job) CanPause() error {
	if !e.reportsProgress() {
		return errNoProgress
	}
	return nil
}

// ShellCommand implements Customizer: kubectl exec into the running pod of the Job, whose
// flarecast opens the shell in root.
func (e *Job) ShellCommand(ctx context.Context, namespace, name, _, root string) (string, error) {
	pod, err := e.runningPod(ctx, namespace, name)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("kubectl exec -it -n %s %s -c %s -- %s archive shell --root %s", namespace, pod, buildContainer, e.opts.Command[0], root), nil
}

// runningPod is the name of the running pod of Job name.
func (e *Job) runningPod(ctx context.Context, namespace, name string) (string, error) {
	var pods corev1.PodList
	if err := e.opts.Reader.List(ctx, &pods, client.InNamespace(namespace), client.MatchingLabels{batchv1.JobNameLabel: name}); err != nil {
		return "", fmt.Errorf("the pod of Job %s/%s: %w", namespace, name, err)
	}
	for _, p := range pods.Items {
		if ownedBy(p.OwnerReferences, name) && p.DeletionTimestamp.IsZero() && p.Status.Phase == corev1.PodRunning {
			return p.Name, nil
		}
	}
	return "", fmt.Errorf("Job %s/%s reports a paused build but has no running pod among %d", namespace, name, len(pods.Items))
}

// Resume implements Customizer: the pod's next progress report is answered with the resume.
func (e *Job) Resume(_ context.Context, namespace, name string) error {
	if !e.reportsProgress() {
		return fmt.Errorf("resume %s/%s: %w", namespace, name, errNoProgress)
	}
	e.opts.Progress.Resume(namespace, name)
	return nil
}
