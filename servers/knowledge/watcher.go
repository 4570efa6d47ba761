package knowledge

import (
	"log/slog"
	"sync"

	"github.com/fsnotify/fsnotify"
)

// watcher turns file-system notifications into "something changed under this path" events.
// It watches directories (fsnotify is not recursive): every directory a scan walks is added,
// so a new directory is watched from the scan its creation triggers.
type watcher struct {
	w      *fsnotify.Watcher
	events chan string
	logger *slog.Logger
	done   chan struct{}

	mu      sync.Mutex
	watched map[string]bool
	warned  bool
}

// maxWatchedDirs bounds the watches (inotify's per-user limit is often 8192): beyond it, the
// periodic scan finds the changes.
const maxWatchedDirs = 8000

func newWatcher(logger *slog.Logger) (*watcher, error) {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	w := &watcher{w: fw, events: make(chan string, 256), logger: logger, done: make(chan struct{}), watched: map[string]bool{}}
	go w.loop()
	return w, nil
}

func (w *watcher) loop() {
	defer close(w.done)
	for {
		select {
		case ev, ok := <-w.w.Events:
			if !ok {
				return
			}
			if ev.Op == fsnotify.Chmod {
				continue
			}
			if ev.Op&(fsnotify.Remove|fsnotify.Rename) != 0 {
				// A removed directory loses its watch; a new one of the same name needs another.
				w.mu.Lock()
				delete(w.watched, ev.Name)
				w.mu.Unlock()
			}
			select {
			case w.events <- ev.Name:
			default: // the indexer is behind; it will scan anyway
			}
		case err, ok := <-w.w.Errors:
			if !ok {
				return
			}
			w.logger.Warn("knowledge: file watching error; the periodic scan still runs", slog.String("error", err.Error()))
		}
	}
}

// add watches the directory dir, once.
func (w *watcher) add(dir string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.watched[dir] {
		return
	}
	if len(w.watched) >= maxWatchedDirs {
		if !w.warned {
			w.warned = true
			w.logger.Warn("knowledge: too many directories to watch; changes beyond them are found by the periodic scan",
				slog.Int("watched", len(w.watched)))
		}
		return
	}
	if err := w.w.Add(dir); err != nil {
		if !w.warned {
			w.warned = true
			w.logger.Warn("knowledge: cannot watch a directory; its changes are found by the periodic scan",
				slog.String("dir", dir), slog.String("error", err.Error()))
		}
		return
	}
	w.watched[dir] = true
}

func (w *watcher) close() error {
	err := w.w.Close()
	<-w.done
	return err
}
