package installplan

import "testing"

func TestTokenNamesOneNode(t *testing.T) {
	secret := []byte("site secret")
	a := Token(secret, "ns", "c1", "n1")
	if !TokenMatches(secret, "ns", "c1", "n1", a) {
		t.Fatal("a node's own token does not match")
	}
	for _, other := range [][3]string{{"ns", "c1", "n2"}, {"ns", "c2", "n1"}, {"ns2", "c1", "n1"}, {"ns", "c1n", "1"}} {
		if TokenMatches(secret, other[0], other[1], other[2], a) {
			t.Errorf("token of ns/c1/n1 matches %v", other)
		}
	}
	if TokenMatches([]byte("other secret"), "ns", "c1", "n1", a) {
		t.Error("token matches under another site secret")
	}
	if TokenMatches(secret, "ns", "c1", "n1", "") {
		t.Error("empty token matches")
	}
}
