// Package modelsource loads a Cluster's model (the Cluster, its NodesGroups, Machines and
// Network, and the other Clusters of its site) through a controller-runtime client.Reader
// and resolves it once per change: one resolution, keyed by the resourceVersions of
// everything it was made from, serves every caller until one of those inputs changes.
//
// The manager's reconcilers and the install server share it, so that neither keeps its own
// copy of how a model is read from the API server. It owns reading and caching only: the
// rules are internal/model's, and it never writes to the API server.
//
// The Reader must be a cache that indexes NodesGroups by IndexGroupCluster and Clusters by
// IndexClusterSite (IndexFields registers both), and what it returns is shared between
// callers: read it, never change it.
package modelsource
