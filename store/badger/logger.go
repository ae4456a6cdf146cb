package badger

import (
	"fmt"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// zapLogger routes Badger's log lines into zap. Badger is chatty at its
// Info level (table counts, compactions, replay progress), so Info and
// Debug lines go to zap's Debug level; warnings and errors keep theirs.
type zapLogger struct {
	l *zap.Logger
}

func (z zapLogger) Errorf(format string, args ...any) { z.log(zapcore.ErrorLevel, format, args) }

func (z zapLogger) Warningf(format string, args ...any) { z.log(zapcore.WarnLevel, format, args) }

func (z zapLogger) Infof(format string, args ...any) { z.log(zapcore.DebugLevel, format, args) }

func (z zapLogger) Debugf(format string, args ...any) { z.log(zapcore.DebugLevel, format, args) }

func (z zapLogger) log(level zapcore.Level, format string, args []any) {
	// Formatting is skipped when the level is off.
	if z.l.Core().Enabled(level) {
		z.l.Log(level, strings.TrimSpace(fmt.Sprintf(format, args...)))
	}
}
