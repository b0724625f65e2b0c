// Package installserver is the install server of one site: it turns the resolved model of
// every Cluster of the site into what the network services serve (a dhcp.Table of static
// leases and boot options, a per-node iPXE script, each node's token), answers the agent
// API from the deployable archives in the repository, and records what the nodes report in
// their NodesGroup's status.
//
// Site (site.go) is pure: a snapshot built from resolved models, testable without an API
// server. Plans and Status reach the API server through a controller-runtime cache and
// client; Server runs DHCP, TFTP and HTTP on one interface and swaps a new snapshot in
// whenever the model changes (Controller). It writes only the node entries of NodesGroup
// status, under its own field manager, and never the model.
package installserver
