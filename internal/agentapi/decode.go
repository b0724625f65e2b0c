package agentapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/flarecast/flarecast/internal/installplan"
)

// phases are the phases a node may report.
var phases = map[installplan.Phase]bool{
	installplan.PhasePending: true, installplan.PhaseBooting: true, installplan.PhaseInstalling: true,
	installplan.PhaseConfiguring: true, installplan.PhaseRebooting: true, installplan.PhaseRunning: true,
	installplan.PhaseFailed: true,
}

// DecodeEvent reads one event, the body of POST events: a single JSON object, with a known
// phase, counts that are not negative, a percent of 0 to 100 and an installed digest that is
// a sha256 digest. Fields it does not know are ignored (a newer agent may send more). The
// caller bounds the reader (installplan.MaxEventBytes).
func DecodeEvent(r io.Reader) (installplan.Event, error) {
	var ev installplan.Event
	dec := json.NewDecoder(r)
	if err := dec.Decode(&ev); err != nil {
		if isMaxBytes(err) {
			return installplan.Event{}, err
		}
		return installplan.Event{}, fmt.Errorf("event: not a JSON event object: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if isMaxBytes(err) {
			return installplan.Event{}, err
		}
		return installplan.Event{}, errors.New("event: the body holds more than one JSON value")
	}
	if err := CheckEvent(ev); err != nil {
		return installplan.Event{}, err
	}
	return ev, nil
}

// CheckEvent holds an event to the rules DecodeEvent applies.
func CheckEvent(ev installplan.Event) error {
	switch {
	case !phases[ev.Phase]:
		return fmt.Errorf("event: phase %q is not one of Pending, Booting, Installing, Configuring, Rebooting, Running, Failed", ev.Phase)
	case ev.Bytes < 0 || ev.Total < 0:
		return fmt.Errorf("event: bytes %d and total %d must not be negative", ev.Bytes, ev.Total)
	case ev.Total > 0 && ev.Bytes > ev.Total:
		return fmt.Errorf("event: bytes %d exceed the total %d", ev.Bytes, ev.Total)
	case ev.Percent < 0 || ev.Percent > 100:
		return fmt.Errorf("event: percent %d is not between 0 and 100", ev.Percent)
	case ev.InstalledDigest != "" && !IsSHA256Digest(ev.InstalledDigest):
		return fmt.Errorf("event: installedDigest %q is not sha256:<64 lower-case hex digits>", ev.InstalledDigest)
	}
	return nil
}

// IsSHA256Digest reports whether d is sha256: and 64 lower-case hex digits.
func IsSHA256Digest(d string) bool {
	const prefix = "sha256:"
	if len(d) != len(prefix)+64 || d[:len(prefix)] != prefix {
		return false
	}
	for _, c := range d[len(prefix):] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// isMaxBytes reports a body cut at its bound: the handler answers it with 413.
func isMaxBytes(err error) bool {
	var mb *http.MaxBytesError
	return errors.As(err, &mb)
}
