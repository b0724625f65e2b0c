// Package crdvalidate admits custom resources offline the way the API server would: from the
// CustomResourceDefinitions' structural schemas it prunes and reports unknown fields, applies
// defaults, then checks object metadata, the OpenAPI schema, list-type invariants and the
// x-kubernetes-validations CEL rules, with the API server's own validators
// (k8s.io/apiextensions-apiserver). A manifest it admits is one the server accepts on create.
//
// It knows nothing of flarecast's kinds beyond the CRDs it is given, checks no rule that spans
// objects (package model does), and never talks to a server.
package crdvalidate
