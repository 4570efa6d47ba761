package registry

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// callLogQueue is how many call lines may wait to be written. Past it, calls wait for the
// writer: lines are never dropped.
const callLogQueue = 4096

// callLog writes the per-call log lines from one goroutine, so that formatting and writing them
// is off the call's path (it was a tenth of the hub's per-call cost). Each line keeps the time
// the call ended, not the time it was written.
type callLog struct {
	records chan callRecord
	done    chan struct{}

	mu     sync.RWMutex // write holds it shared, close exclusively: no send on a closed channel
	closed bool
}

type callRecord struct {
	handler slog.Handler
	record  slog.Record
	synced  chan struct{} // set on a marker record: closed once everything before it is written
}

func newCallLog() *callLog {
	l := &callLog{records: make(chan callRecord, callLogQueue), done: make(chan struct{})}
	go l.run()
	return l
}

func (l *callLog) run() {
	defer close(l.done)
	for rec := range l.records {
		if rec.synced != nil {
			close(rec.synced)
			continue
		}
		// The call's context has ended by now; handlers get a background one.
		_ = rec.handler.Handle(context.Background(), rec.record)
	}
}

// write queues one line for the logger's handler (with the logger's attributes). After close
// (a handler abandoned at its deadline may return that late) it writes the line itself.
func (l *callLog) write(logger *slog.Logger, level slog.Level, msg string, attrs []slog.Attr) {
	r := slog.NewRecord(time.Now(), level, msg, 0)
	r.AddAttrs(attrs...)
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		_ = logger.Handler().Handle(context.Background(), r)
		return
	}
	l.records <- callRecord{handler: logger.Handler(), record: r}
}

// sync waits until every line queued before it is written, or ctx ends.
func (l *callLog) sync(ctx context.Context) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return
	}
	marker := make(chan struct{})
	select {
	case l.records <- callRecord{synced: marker}:
	case <-ctx.Done():
		return
	}
	select {
	case <-marker:
	case <-ctx.Done():
	}
}

// close writes what is queued and stops the writer.
func (l *callLog) close() {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		close(l.records)
	}
	l.mu.Unlock()
	<-l.done
}
