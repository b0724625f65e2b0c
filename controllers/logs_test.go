package controllers_test

import (
	"bytes"
	"sync"

	uzap "go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// managerLog holds every line the suite's managers log, at every level, so that tests can
// read what a person reading the manager's log would (a Secret, an error that is none).
var managerLog = &capturedLog{}

type capturedLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *capturedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *capturedLog) Sync() error { return nil }

func (l *capturedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// core logs JSON lines at every level, debug and V(n) included.
func (l *capturedLog) core() zapcore.Core {
	return zapcore.NewCore(zapcore.NewJSONEncoder(uzap.NewProductionEncoderConfig()), l, zapcore.Level(-127))
}
