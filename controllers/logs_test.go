package controllers_test

import (
	uzap "go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/flarecast/flarecast/internal/testsupport/logbuf"
)

// managerLog holds every line the suite's managers log, at every level, so that tests can
// read what a person reading the manager's log would (a Secret, an error that is none).
var managerLog = &capturedLog{}

// capturedLog is a logbuf.Buffer that zap can sync.
type capturedLog struct{ logbuf.Buffer }

func (l *capturedLog) Sync() error { return nil }

// core logs JSON lines at every level, debug and V(n) included.
func (l *capturedLog) core() zapcore.Core {
	return zapcore.NewCore(zapcore.NewJSONEncoder(uzap.NewProductionEncoderConfig()), l, zapcore.Level(-127))
}
