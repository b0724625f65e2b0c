package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/internal/archive"
	"github.com/flarecast/flarecast/internal/executor/build"
)

// missingError is content a spec names that does not exist: the archive waits for it with
// reason ConfigurationMissing, it is not a failure of the controller.
type missingError struct{ msg string }

func (e *missingError) Error() string { return e.msg }

// content returns the bytes of a file or script. ConfigMaps and Secrets are read on demand
// through the API reader, not cached: they are small, read at build time only, and a cache
// of every Secret of the cluster is not worth its memory or its RBAC.
func content(ctx context.Context, c client.Reader, namespace string, src fcv1.ConfigSource, where string) ([]byte, error) {
	switch {
	case src.Inline != nil:
		return []byte(*src.Inline), nil
	case src.ConfigMapKeyRef != nil:
		ref := src.ConfigMapKeyRef
		var cm corev1.ConfigMap
		if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: ref.Name}, &cm); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, &missingError{fmt.Sprintf("%s: ConfigMap %s is not found", where, ref.Name)}
			}
			return nil, fmt.Errorf("%s: get ConfigMap %s: %w", where, ref.Name, err)
		}
		if v, ok := cm.Data[ref.Key]; ok {
			return []byte(v), nil
		}
		if v, ok := cm.BinaryData[ref.Key]; ok {
			return v, nil
		}
		return nil, &missingError{fmt.Sprintf("%s: ConfigMap %s has no key %s", where, ref.Name, ref.Key)}
	case src.SecretKeyRef != nil:
		ref := src.SecretKeyRef
		var s corev1.Secret
		if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: ref.Name}, &s); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, &missingError{fmt.Sprintf("%s: Secret %s is not found", where, ref.Name)}
			}
			return nil, fmt.Errorf("%s: get Secret %s: %w", where, ref.Name, err)
		}
		if v, ok := s.Data[ref.Key]; ok {
			return v, nil
		}
		return nil, &missingError{fmt.Sprintf("%s: Secret %s has no key %s", where, ref.Name, ref.Key)}
	}
	return nil, fmt.Errorf("%s: no source (the API server should have refused it)", where)
}

// configuration fetches the content of a configuration (a Configured archive's, or a
// group's for its deployable) into the build request's form.
func configuration(ctx context.Context, c client.Reader, namespace, field string, conf *fcv1.Configuration) (*build.Configuration, error) {
	if conf == nil {
		return nil, nil
	}
	out := &build.Configuration{DoubleReboot: conf.Reboots == fcv1.RebootsTwice}
	for _, f := range conf.Files {
		data, err := content(ctx, c, namespace, f.Source, fmt.Sprintf("%s.files[%s]", field, f.Path))
		if err != nil {
			return nil, err
		}
		out.Files = append(out.Files, build.File{Path: f.Path, Mode: uint32(f.Mode), Data: data, FromSecret: f.Source.SecretKeyRef != nil})
	}
	for _, s := range conf.Scripts {
		data, err := content(ctx, c, namespace, s.Source, fmt.Sprintf("%s.scripts[%s]", field, s.Name))
		if err != nil {
			return nil, err
		}
		stage := s.Stage
		if stage == "" {
			stage = fcv1.StageAfterServices
		}
		out.Scripts = append(out.Scripts, build.Script{Name: s.Name, Stage: archive.Stage(stage), Order: int(s.Order), Data: data,
			FromSecret: s.Source.SecretKeyRef != nil})
	}
	return out, nil
}
