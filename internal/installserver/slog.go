package installserver

import (
	"context"
	"log/slog"

	"github.com/go-logr/logr"
)

// slogOf gives the services that log with log/slog (dhcp, agentapi) the command's logr
// logger, with slog's Debug as logr's V(1): the level `--v 1` shows, where logr's own
// mapping would put it at V(4).
func slogOf(log logr.Logger) *slog.Logger {
	return slog.New(debugAsV1{logr.ToSlogHandler(log)})
}

type debugAsV1 struct{ h slog.Handler }

func shift(l slog.Level) slog.Level {
	if l < slog.LevelInfo {
		return slog.LevelInfo - 1
	}
	return l
}

func (d debugAsV1) Enabled(ctx context.Context, l slog.Level) bool { return d.h.Enabled(ctx, shift(l)) }

func (d debugAsV1) Handle(ctx context.Context, r slog.Record) error {
	r.Level = shift(r.Level)
	return d.h.Handle(ctx, r)
}

func (d debugAsV1) WithAttrs(as []slog.Attr) slog.Handler { return debugAsV1{d.h.WithAttrs(as)} }
func (d debugAsV1) WithGroup(name string) slog.Handler    { return debugAsV1{d.h.WithGroup(name)} }
