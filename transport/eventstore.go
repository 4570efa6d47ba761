package transport

import (
	"container/list"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/mark3labs/mcp-go/server"
)

// boundedEventStore keeps the last events of each session's SSE streams so that a legacy client
// can resume a broken stream, and so that mcp-go delivers the last notification of a POST stream
// (without a store it often drops it: notes/mcp-go.md §6.1). Unlike mcp-go's InMemoryEventStore
// it is bounded: perSession events per session, maxSessions sessions (least recently used go
// first), and nothing for sessionless (2026-07-28) traffic, which cannot resume anyway.
type boundedEventStore struct {
	perSession  int
	maxSessions int
	seq         atomic.Uint64

	mu       sync.Mutex
	sessions map[string]*list.Element // of *sessionEvents
	lru      *list.List
}

type sessionEvents struct {
	id     string
	events []storedEvent // ring, oldest first after rotation
}

type storedEvent struct {
	id, stream string
	msg        json.RawMessage
}

var _ server.EventStore = (*boundedEventStore)(nil)

func newBoundedEventStore(perSession, maxSessions int) *boundedEventStore {
	return &boundedEventStore{perSession: perSession, maxSessions: maxSessions,
		sessions: map[string]*list.Element{}, lru: list.New()}
}

func (s *boundedEventStore) StoreEvent(_ context.Context, sessionID, streamID string, message json.RawMessage) (string, error) {
	id := strconv.FormatUint(s.seq.Add(1), 10)
	if sessionID == "" {
		return id, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	el, ok := s.sessions[sessionID]
	if !ok {
		if s.lru.Len() >= s.maxSessions {
			oldest := s.lru.Back()
			s.lru.Remove(oldest)
			delete(s.sessions, oldest.Value.(*sessionEvents).id)
		}
		el = s.lru.PushFront(&sessionEvents{id: sessionID})
		s.sessions[sessionID] = el
	} else {
		s.lru.MoveToFront(el)
	}
	se := el.Value.(*sessionEvents)
	if len(se.events) >= s.perSession {
		copy(se.events, se.events[1:])
		se.events = se.events[:len(se.events)-1]
	}
	se.events = append(se.events, storedEvent{id: id, stream: streamID, msg: append(json.RawMessage(nil), message...)})
	return id, nil
}

func (s *boundedEventStore) ReplayEventsAfter(_ context.Context, sessionID, lastEventID string, send func(string, json.RawMessage) error) (string, error) {
	s.mu.Lock()
	var events []storedEvent
	if el, ok := s.sessions[sessionID]; ok {
		events = append(events, el.Value.(*sessionEvents).events...)
	}
	s.mu.Unlock()
	at := -1
	for i, e := range events {
		if e.id == lastEventID {
			at = i
			break
		}
	}
	if at < 0 {
		return "", fmt.Errorf("event %q of session %q: %w", lastEventID, sessionID, server.ErrUnknownEventID)
	}
	stream := events[at].stream
	for _, e := range events[at+1:] {
		if e.stream != stream {
			continue
		}
		if err := send(e.id, e.msg); err != nil {
			return stream, err
		}
	}
	return stream, nil
}

func (s *boundedEventStore) PurgeSession(_ context.Context, sessionID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if el, ok := s.sessions[sessionID]; ok {
		s.lru.Remove(el)
		delete(s.sessions, sessionID)
	}
	return nil
}
