package archive

import "fmt"

// Type says what an archive is good for: a Generic archive is a cluster-independent system
// image; a Configured one adds the user configuration of a nodes group; only a Deployable one,
// which adds the cluster section and the software-load descriptor, can be installed on a node.
type Type string

const (
	Generic    Type = "Generic"
	Configured Type = "Configured"
	Deployable Type = "Deployable"
)

// ParseType accepts the canonical spelling and its lower-case form (what a person types).
func ParseType(s string) (Type, error) {
	for _, t := range []Type{Generic, Configured, Deployable} {
		if s == string(t) || s == lower(string(t)) {
			return t, nil
		}
	}
	return "", fmt.Errorf("unknown archive type %q (want Generic, Configured or Deployable)", s)
}

func (t Type) valid() bool { return t == Generic || t == Configured || t == Deployable }

// Stage is when the agent runs an install script on the node.
type Stage string

const (
	// StageFirstBoot runs once, on the first boot after the archive is written.
	StageFirstBoot Stage = "FirstBoot"
	// StageBeforeServices runs on each install before the node's services start; with
	// doubleReboot the node reboots once more after this stage.
	StageBeforeServices Stage = "BeforeServices"
	// StageAfterServices runs once the services are up.
	StageAfterServices Stage = "AfterServices"
)

// stageRank orders stages the way a node lives through them.
func stageRank(s Stage) int {
	switch s {
	case StageFirstBoot:
		return 0
	case StageBeforeServices:
		return 1
	case StageAfterServices:
		return 2
	}
	return -1
}

// ParseStage accepts the canonical spelling and its lower-case form.
func ParseStage(s string) (Stage, error) {
	for _, st := range []Stage{StageFirstBoot, StageBeforeServices, StageAfterServices} {
		if s == string(st) || s == lower(string(st)) {
			return st, nil
		}
	}
	return "", fmt.Errorf("unknown stage %q (want FirstBoot, BeforeServices or AfterServices)", s)
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
