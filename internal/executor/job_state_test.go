package executor

import (
	"context"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

// A failed build Job's message says how to read its log with a command that works as given:
// the Job is in the archive's namespace, which is rarely the user's current one.
func TestFailedJobMessageGivesAWorkingLogsCommand(t *testing.T) {
	s := runtime.NewScheme()
	if err := batchv1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := corev1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Namespace: "site-a", Name: "base-build-0123456789"},
		Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{
			{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit"},
		}},
	}
	e, err := NewJob(JobOptions{Client: fake.NewClientBuilder().WithScheme(s).WithObjects(j).Build(), Image: "i"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := e.State(context.Background(), "site-a", j.Name)
	if err != nil {
		t.Fatal(err)
	}
	if st.Phase != Failed || !strings.Contains(st.Message, "kubectl logs -n site-a job/"+j.Name) {
		t.Fatalf("state %+v, want Failed with `kubectl logs -n site-a job/%s`", st, j.Name)
	}
}

// ForgetOwner deletes the owner's Jobs and request Secrets at once, and only the owner's: a
// build still running must not tag an archive whose deletion just untagged it.
func TestJobForgetOwnerDeletesOnlyTheOwnersJobsAndSecrets(t *testing.T) {
	s := runtime.NewScheme()
	if err := batchv1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := corev1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	c := fake.NewClientBuilder().WithScheme(s).Build()
	e, err := NewJob(JobOptions{Client: c, Image: "i"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, owner := range []string{"base", "other"} {
		spec := Spec{Namespace: "site-a", Name: owner + "-build-0123456789", Request: []byte(`{"secret":"script"}`),
			Owner: metav1.OwnerReference{APIVersion: "flarecast.io/v1alpha1", Kind: "FlashArchive", Name: owner, UID: "u-" + types.UID(owner)}}
		if err := e.Submit(ctx, spec); err != nil {
			t.Fatal(err)
		}
	}
	var sec corev1.Secret
	if err := c.Get(ctx, client.ObjectKey{Namespace: "site-a", Name: "base-build-0123456789"}, &sec); err != nil || string(sec.Data[requestKey]) != `{"secret":"script"}` {
		t.Fatalf("the request is not in a Secret: %v %v", sec.Data, err)
	}
	if err := e.ForgetOwner(ctx, "site-a", "base"); err != nil {
		t.Fatal(err)
	}
	var jobs batchv1.JobList
	var secrets corev1.SecretList
	if err := c.List(ctx, &jobs); err != nil {
		t.Fatal(err)
	}
	if err := c.List(ctx, &secrets); err != nil {
		t.Fatal(err)
	}
	if len(jobs.Items) != 1 || jobs.Items[0].Name != "other-build-0123456789" || len(secrets.Items) != 1 || secrets.Items[0].Name != "other-build-0123456789" {
		t.Fatalf("left: %d Jobs %v, %d Secrets, want only other's", len(jobs.Items), jobs.Items, len(secrets.Items))
	}
}
