package agentapi

import "github.com/flarecast/flarecast/internal/installplan"

// Tokens knows the token of every node of a site, to name the node a token belongs to
// (Options.Holder). It is built once per model change: a lookup is then one map read
// instead of an HMAC per node of the site.
type Tokens struct {
	byToken map[string]NodeRef
}

// NewTokens derives the token of each node from the site secret.
func NewTokens(secret []byte, nodes []NodeRef) *Tokens {
	t := &Tokens{byToken: make(map[string]NodeRef, len(nodes))}
	for _, n := range nodes {
		t.byToken[installplan.Token(secret, n.Namespace, n.Cluster, n.Node)] = n
	}
	return t
}

// Holder names the node whose token this is.
func (t *Tokens) Holder(token string) (NodeRef, bool) {
	if t == nil {
		return NodeRef{}, false
	}
	n, ok := t.byToken[token]
	return n, ok
}
