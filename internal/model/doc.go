// Package model resolves the flarecast data model: it takes one Cluster with its NodesGroups,
// Machine and Network (the seed's cluster, machine and network models), checks the rules that
// span them, and returns the resolved nodes (drawer, board, NICs, disks, addresses), the
// problems, the warnings and what a partial model still lacks.
//
// It is pure: it reads api/v1alpha1 values it is handed and never talks to the API server,
// never mutates its inputs and never decides what a controller does with the result. The rules
// a CEL expression on one object already enforces are checked here too, so that the model is
// sound even for objects that did not pass through the API server (flarecast model check).
package model
