// Package check is what `flarecast model check` does: it admits each flarecast object of a set
// of manifests as the API server would (package crdvalidate), then resolves the model of every
// Cluster with its groups, Machine and Network (package model), checks each FlashArchive
// against its base and the groups that run it (package archiveref, as the controller does),
// and reports every finding against the file that holds the object concerned.
//
// It reads no files (package manifest does) and prints nothing (the command does).
package check
