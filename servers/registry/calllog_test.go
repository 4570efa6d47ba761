package registry

import (
	"context"
	"log/slog"
	"strings"
	"testing"
)

func TestCallLog(t *testing.T) {
	buf := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(buf, nil)).With(slog.String("tool", "x_y"))
	l := newCallLog()
	for i := range 100 {
		l.write(logger, slog.LevelInfo, "tool call", []slog.Attr{slog.Int("n", i)})
	}
	l.sync(context.Background())
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 100 {
		t.Fatalf("%d lines after sync, want 100", len(lines))
	}
	if !strings.Contains(lines[0], `"tool":"x_y","n":0`) || !strings.Contains(lines[99], `"n":99`) {
		t.Errorf("lines out of order or without the logger's attributes: %s ... %s", lines[0], lines[99])
	}
	l.write(logger, slog.LevelWarn, "tool call", []slog.Attr{slog.Int("n", 100)})
	l.close()
	l.close() // idempotent
	l.write(logger, slog.LevelInfo, "tool call", []slog.Attr{slog.Int("n", 101)})
	l.sync(context.Background()) // no-op after close
	if got := strings.Count(buf.String(), "\n"); got != 102 {
		t.Errorf("%d lines, want 102: close must write what is queued and later lines still be written", got)
	}
}
