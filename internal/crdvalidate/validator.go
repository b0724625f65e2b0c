package crdvalidate

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"sort"

	apiextensionsinternal "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	structurallisttype "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/listtype"
	schemaobjectmeta "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/objectmeta"
	structuralpruning "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"
)

// Validator admits objects of the kinds its CRDs define.
type Validator struct {
	kinds map[schema.GroupVersionKind]*kind
}

// kind is one served version of one CRD, ready to validate.
type kind struct {
	gvk        schema.GroupVersionKind
	namespaced bool
	structural *structuralschema.Structural
	schema     validation.SchemaValidator
	cel        *cel.Validator
}

// Load reads every *.yaml CRD in the root of fsys.
func Load(fsys fs.FS, dir string) (*Validator, error) {
	names, err := fs.Glob(fsys, path.Join(dir, "*.yaml"))
	if err != nil {
		return nil, fmt.Errorf("list CRDs in %s: %w", dir, err)
	}
	sort.Strings(names)
	var crds []*apiextensionsv1.CustomResourceDefinition
	for _, name := range names {
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("read CRD %s: %w", name, err)
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.UnmarshalStrict(data, crd); err != nil {
			return nil, fmt.Errorf("decode CRD %s: %w", name, err)
		}
		crds = append(crds, crd)
	}
	return New(crds...)
}

// New builds a validator for every served version of the CRDs.
func New(crds ...*apiextensionsv1.CustomResourceDefinition) (*Validator, error) {
	v := &Validator{kinds: map[schema.GroupVersionKind]*kind{}}
	for _, crd := range crds {
		for _, ver := range crd.Spec.Versions {
			if !ver.Served || ver.Schema == nil || ver.Schema.OpenAPIV3Schema == nil {
				continue
			}
			gvk := schema.GroupVersionKind{Group: crd.Spec.Group, Version: ver.Name, Kind: crd.Spec.Names.Kind}
			k, err := newKind(gvk, crd.Spec.Scope == apiextensionsv1.NamespaceScoped, ver.Schema.OpenAPIV3Schema)
			if err != nil {
				return nil, fmt.Errorf("CRD %s version %s: %w", crd.Name, ver.Name, err)
			}
			v.kinds[gvk] = k
		}
	}
	return v, nil
}

func newKind(gvk schema.GroupVersionKind, namespaced bool, in *apiextensionsv1.JSONSchemaProps) (*kind, error) {
	internal := &apiextensionsinternal.JSONSchemaProps{}
	if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(in, internal, nil); err != nil {
		return nil, fmt.Errorf("convert schema: %w", err)
	}
	structural, err := structuralschema.NewStructural(internal)
	if err != nil {
		return nil, fmt.Errorf("structural schema: %w", err)
	}
	sv, _, err := validation.NewSchemaValidator(internal)
	if err != nil {
		return nil, fmt.Errorf("schema validator: %w", err)
	}
	return &kind{
		gvk:        gvk,
		namespaced: namespaced,
		structural: structural,
		schema:     sv,
		cel:        cel.NewValidator(structural, true, celconfig.PerCallLimit),
	}, nil
}

// Handles reports whether the validator knows the kind.
func (v *Validator) Handles(gvk schema.GroupVersionKind) bool {
	_, ok := v.kinds[gvk]
	return ok
}

// Admit does to obj what the API server does to a created custom resource before storing it:
// it drops unknown fields (reported as errors, as kubectl's default strict field validation
// does), applies the schema's defaults, and validates. obj is changed in place; it is valid
// when the returned list is empty. An object of a kind the validator does not know is an error.
// obj must be decoded as the server decodes JSON (k8s.io/apimachinery/pkg/util/json: whole
// numbers as int64), or integer fields fail their CEL rules.
func (v *Validator) Admit(ctx context.Context, obj map[string]any) field.ErrorList {
	apiVersion, _ := obj["apiVersion"].(string)
	kindName, _ := obj["kind"].(string)
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return field.ErrorList{field.Invalid(field.NewPath("apiVersion"), apiVersion, err.Error())}
	}
	k, ok := v.kinds[gv.WithKind(kindName)]
	if !ok {
		return field.ErrorList{field.NotSupported(field.NewPath("kind"), kindName, v.kindNames())}
	}
	return k.admit(ctx, obj)
}

func (v *Validator) kindNames() []string {
	var names []string
	for gvk := range v.kinds {
		names = append(names, gvk.Kind)
	}
	sort.Strings(names)
	return names
}

func (k *kind) admit(ctx context.Context, obj map[string]any) field.ErrorList {
	var errs field.ErrorList
	meta, _, unknownMeta, err := schemaobjectmeta.GetObjectMetaWithOptions(obj, schemaobjectmeta.ObjectMetaOptions{ReturnUnknownFieldPaths: true})
	if err != nil {
		return field.ErrorList{field.Invalid(field.NewPath("metadata"), nil, err.Error())}
	}
	unknown := append(unknownMeta, structuralpruning.PruneWithOptions(obj, k.structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})...)
	sort.Strings(unknown)
	for _, p := range unknown {
		errs = append(errs, field.Invalid(field.NewPath(p), field.OmitValueType{}, "unknown field: the server rejects it under strict field validation; remove it or correct its name"))
	}
	structuraldefaulting.PruneNonNullableNullsWithoutDefaults(obj, k.structural)
	structuraldefaulting.Default(obj, k.structural)
	if meta != nil {
		if err := schemaobjectmeta.SetObjectMeta(obj, meta); err != nil {
			return append(errs, field.Invalid(field.NewPath("metadata"), nil, err.Error()))
		}
	} else {
		meta = &metav1.ObjectMeta{}
	}

	errs = append(errs, k.validateMeta(meta)...)
	errs = append(errs, validation.ValidateCustomResource(nil, obj, k.schema)...)
	errs = append(errs, schemaobjectmeta.Validate(ctx, nil, obj, k.structural, false)...)
	errs = append(errs, structurallisttype.ValidateListSetsAndMaps(nil, k.structural, obj)...)
	if k.cel == nil {
		return errs
	}
	if blocking(errs) {
		// The server skips the CEL rules of an object that fails its schema; so do we.
		return append(errs, field.Invalid(nil, nil, "some validation rules were not checked because the object was invalid; correct the existing errors to complete validation"))
	}
	celErrs, _ := k.cel.Validate(ctx, nil, k.structural, obj, nil, celconfig.RuntimeCELCostBudget)
	return append(errs, celErrs...)
}

// validateMeta checks name and namespace as the server does on create. A manifest without a
// namespace gets one from kubectl's context, so a placeholder stands in for it.
func (k *kind) validateMeta(meta *metav1.ObjectMeta) field.ErrorList {
	m := meta.DeepCopy()
	if k.namespaced && m.Namespace == "" {
		m.Namespace = "default"
	}
	return apimachineryvalidation.ValidateObjectMeta(m, k.namespaced, apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
}

// blocking mirrors the server's test for errors after which CEL rules are not evaluated.
func blocking(errs field.ErrorList) bool {
	for _, e := range errs {
		switch e.Type {
		case field.ErrorTypeNotSupported, field.ErrorTypeRequired, field.ErrorTypeTooLong, field.ErrorTypeTooMany, field.ErrorTypeTypeInvalid:
			return true
		}
	}
	return false
}
