package transport

import (
	"crypto/rand"
	"errors"
	"strings"
	"sync"
)

// sessionIDs issues MCP session ids and knows which are live, so that a request bearing an id the
// hub did not issue, or one whose session ended (DELETE, idle expiry, shutdown), is answered 404
// as the spec requires; the client then starts a new session. mcp-go's default manager only checks
// the id's format and would quietly serve a terminated session again. Only live ids are kept: an
// ended one is forgotten, and unknown is answered the same as terminated.
type sessionIDs struct {
	mu   sync.RWMutex
	live map[string]struct{}
}

const sessionIDPrefix = "mcp-session-"

var errUnknownSession = errors.New("unknown or ended MCP session")

func newSessionIDs() *sessionIDs { return &sessionIDs{live: map[string]struct{}{}} }

func (s *sessionIDs) Generate() string {
	id := sessionIDPrefix + rand.Text() // 128 random bits, base32: visible ASCII only
	s.mu.Lock()
	s.live[id] = struct{}{}
	s.mu.Unlock()
	return id
}

func (s *sessionIDs) Validate(id string) (isTerminated bool, err error) {
	if !strings.HasPrefix(id, sessionIDPrefix) {
		return false, errUnknownSession
	}
	s.mu.RLock()
	_, ok := s.live[id]
	s.mu.RUnlock()
	if !ok {
		return true, nil
	}
	return false, nil
}

func (s *sessionIDs) Terminate(id string) (isNotAllowed bool, err error) {
	s.mu.Lock()
	delete(s.live, id)
	s.mu.Unlock()
	return false, nil
}

// count is the number of live ids, for tests.
func (s *sessionIDs) count() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.live)
}
