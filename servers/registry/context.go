package registry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync/atomic"
)

type ctxKey int

const (
	identityKey ctxKey = iota
	callKey
)

// AnonymousIdentity is the identity of callers when no authentication is configured: the local
// user on stdio or on a loopback listener.
const AnonymousIdentity = "local"

// WithIdentity returns ctx carrying the authenticated caller's identity. The transport sets it;
// servers read it with Identity to scope state (memory namespaces, browser and sandbox handles).
func WithIdentity(ctx context.Context, identity string) context.Context {
	return context.WithValue(ctx, identityKey, identity)
}

// Identity returns the caller's identity, or AnonymousIdentity when none was set.
func Identity(ctx context.Context) string {
	if id, ok := ctx.Value(identityKey).(string); ok && id != "" {
		return id
	}
	return AnonymousIdentity
}

// CallInfo describes the tool call a handler is running, for logs and audit.
type CallInfo struct {
	RequestID string
	Server    string
	Tool      string
}

// Call returns the running call's info; the zero value outside a call.
func Call(ctx context.Context) CallInfo {
	if st, ok := ctx.Value(callKey).(*callState); ok {
		return st.CallInfo
	}
	return CallInfo{}
}

// requestIDs are a random per-process prefix plus a counter: unique, cheap, and sortable within a
// process, which is what a log reader correlating lines wants.
var (
	requestIDPrefix = newRequestIDPrefix()
	requestIDSeq    atomic.Uint64
)

func newRequestIDPrefix() string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error (Go 1.24+)
	return hex.EncodeToString(b[:])
}

func newRequestID() string {
	n := requestIDSeq.Add(1)
	var buf [8 + 1 + 16]byte
	copy(buf[:], requestIDPrefix)
	buf[8] = '-'
	const digits = "0123456789abcdef"
	for i := len(buf) - 1; i > 8; i-- {
		buf[i] = digits[n&0xf]
		n >>= 4
	}
	return string(buf[:])
}
