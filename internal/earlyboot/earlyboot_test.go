package earlyboot

import "testing"

func TestParseCmdline(t *testing.T) {
	m := ParseCmdline("console=ttyS0,115200n8 quiet flarecast.node=n1 flarecast.server=http://198.18.0.1:8080 x=1 x=2\n")
	for k, want := range map[string]string{"console": "ttyS0,115200n8", "quiet": "", "flarecast.node": "n1", "flarecast.server": "http://198.18.0.1:8080", "x": "2"} {
		if got, ok := m[k]; !ok || got != want {
			t.Errorf("%s = %q (present %v), want %q", k, got, ok, want)
		}
	}
}
