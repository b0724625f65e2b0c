// Package manifest reads Kubernetes manifests from files, directories and streams: YAML (one
// or many documents) or JSON, and kubectl's List kind, into objects decoded as the API server
// decodes JSON (whole numbers as int64), each with the file and document it came from.
//
// It must not interpret the objects: admission is package crdvalidate's, the model's rules
// are package model's. Input is untrusted: every failure is an error, never a panic.
package manifest
