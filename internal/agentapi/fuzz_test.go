package agentapi

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzDecodeEvent holds DecodeEvent to its rules on any body: it never panics, and an event
// it accepts passes CheckEvent and survives a round trip through JSON unchanged.
func FuzzDecodeEvent(f *testing.F) {
	for _, s := range []string{
		`{"phase":"Installing","step":"section archive","bytes":10,"total":100,"percent":10}`,
		`{"phase":"Running","installedDigest":"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}`,
		`{"phase":"Configuring","step":"script 10-net.sh","stage":"FirstBoot","exitCode":1,"output":"no route"}`,
		`{"phase":"Failed","message":"disk sda: smaller than 480Gi"}`,
		`{"phase":"Booting","unknown":{"nested":[1,2,3]}}`,
		`{"phase":"Installing"} `,
		`{"phase":"Installing"}{}`,
		`[]`, `null`, `{"phase":"Installing","percent":1e3}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := DecodeEvent(bytes.NewReader(body))
		if err != nil {
			return
		}
		if err := CheckEvent(ev); err != nil {
			t.Fatalf("accepted an event that breaks the rules: %v", err)
		}
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		again, err := DecodeEvent(bytes.NewReader(b))
		if err != nil || !reflect.DeepEqual(again, ev) {
			t.Fatalf("round trip: %+v, %v; was %+v", again, err, ev)
		}
	})
}

// TestFuzzCorpusIsCheckedIn keeps the corpus in the tree: go test runs it as seeds.
func TestFuzzCorpusIsCheckedIn(t *testing.T) {
	names, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzDecodeEvent", "*"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no checked-in corpus for FuzzDecodeEvent (%v)", err)
	}
	for _, n := range names {
		if b, err := os.ReadFile(n); err != nil || !bytes.HasPrefix(b, []byte("go test fuzz v1\n")) {
			t.Errorf("%s is not a fuzz corpus file (%v)", n, err)
		}
	}
}
