// Package agentapi is the agent API of the install server, as installplan describes it: a
// node's agent asks for its install plan and reports its progress, each request carrying the
// node's own token.
//
// It holds the server side, an http.Handler over two small interfaces the install server
// implements (PlanSource: a node's plan; EventSink: where a node's reports go), and Memory, an
// in-memory implementation of both for tests of either side; the agent's client belongs here
// too. The handler owns
// the protocol (paths, authentication, status codes, bounded and checked bodies); it never
// decides what a node installs, never reads the Kubernetes API, and never logs a token.
//
// Client is the agent's side: GET plan and POST events for one node, retried with backoff on
// network errors and 5xx answers, with bounded answers and errors that never hold the token.
//
// It depends on the standard library and installplan only, so that the agent binary (which
// takes its client from this package) stays small.
package agentapi
