// Package mcpload is a minimal plain-HTTP MCP client for load tests and benchmarks: one
// tools/call per round trip, both protocol generations, no SDK in the way, so that measurements
// see the server, not a client library.
//
// A [Client] speaks one protocol generation to one endpoint and calls one tool. [Legacy]
// (2025-11-25) opens a session with initialize and notifications/initialized in [Dial] and sends
// its Mcp-Session-Id on every call; [Modern] (2026-07-28) is stateless: every call carries the
// MCP-Protocol-Version, Mcp-Method and Mcp-Name headers and the protocol version and client
// capabilities in its _meta. [Client.Call] checks the whole answer: HTTP 200, a JSON-RPC result
// (a JSON body or a text/event-stream) for the request's id, no JSON-RPC error, no isError, and
// the expected text.
package mcpload

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The protocol generations a [Client] speaks.
const (
	Modern = "2026-07-28" // stateless core: _meta + Mcp-Method/Mcp-Name headers, no session
	Legacy = "2025-11-25" // initialize once, then Mcp-Session-Id on every call
)

// NewHTTPClient returns a keep-alive HTTP client for load: up to maxConns idle connections per
// host (twice that in all), no limit on open ones, no compression, 30 s per request. Call its
// CloseIdleConnections when done.
func NewHTTPClient(maxConns int) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			MaxIdleConns:        2 * maxConns,
			MaxIdleConnsPerHost: maxConns,
			IdleConnTimeout:     time.Minute,
			DisableCompression:  true,
		},
		Timeout: 30 * time.Second,
	}
}

// Client is one MCP client (one session, for [Legacy]) calling one tool over plain HTTP. It is
// not for concurrent use: give each goroutine its own.
type Client struct {
	hc      *http.Client
	url     string
	tool    string
	toolJS  []byte // tool as a JSON string
	proto   string
	header  http.Header
	session string
	id      int64
	body    []byte // the last request, reused
}

// Dial returns a client of tool at the MCP endpoint url, speaking protocol ([Modern] or
// [Legacy]) through hc. header, which may be nil, is added to every request. For [Legacy] it
// initializes a session first; for [Modern] it sends nothing.
func Dial(ctx context.Context, hc *http.Client, url, tool, protocol string, header http.Header) (*Client, error) {
	if protocol != Modern && protocol != Legacy {
		return nil, fmt.Errorf("mcpload: unknown protocol %q (want %s or %s)", protocol, Modern, Legacy)
	}
	c := &Client{hc: hc, url: url, tool: tool, toolJS: appendString(nil, tool), proto: protocol, header: header.Clone()}
	if protocol == Modern {
		return c, nil
	}
	// Legacy: initialize, keep the session id, confirm with notifications/initialized.
	init := `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"` + protocol +
		`","capabilities":{},"clientInfo":{"name":"mcpload","version":"1"}}}`
	a, err := c.post(ctx, []byte(init))
	if err != nil {
		return nil, fmt.Errorf("initialize: %w", err)
	}
	if a.status != http.StatusOK {
		return nil, fmt.Errorf("initialize: HTTP %d: %s", a.status, trim(a.body))
	}
	if _, err := parse(a.header.Get("Content-Type"), a.body, 0); err != nil {
		return nil, fmt.Errorf("initialize: %w", err)
	}
	c.session = a.header.Get("Mcp-Session-Id")
	if c.session == "" {
		return nil, errors.New("initialize: no Mcp-Session-Id in the answer")
	}
	a, err = c.post(ctx, []byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}`))
	if err != nil {
		return nil, fmt.Errorf("notifications/initialized: %w", err)
	}
	if a.status != http.StatusAccepted {
		return nil, fmt.Errorf("notifications/initialized: HTTP %d: %s", a.status, trim(a.body))
	}
	return c, nil
}

// Call makes one tools/call with args and checks the answer: HTTP 200 and a JSON-RPC result (as
// JSON or in an SSE stream) for this request's id, with no JSON-RPC error and no isError, and
// with a text content item equal to want (any result will do if want is empty).
func (c *Client) Call(ctx context.Context, args map[string]any, want string) error {
	c.id++
	b := c.body[:0]
	b = append(b, `{"jsonrpc":"2.0","id":`...)
	b = strconv.AppendInt(b, c.id, 10)
	b = append(b, `,"method":"tools/call","params":{"name":`...)
	b = append(b, c.toolJS...)
	b = append(b, `,"arguments":`...)
	b, err := appendArgs(b, args)
	if err != nil {
		return fmt.Errorf("tools/call %s: encoding the arguments: %w", c.tool, err)
	}
	if c.proto == Modern {
		b = append(b, `,"_meta":{"io.modelcontextprotocol/protocolVersion":"`...)
		b = append(b, c.proto...)
		b = append(b, `","io.modelcontextprotocol/clientCapabilities":{}}`...)
	}
	b = append(b, `}}`...)
	c.body = b

	ans, err := c.post(ctx, b)
	if err != nil {
		return fmt.Errorf("tools/call %s: %w", c.tool, err)
	}
	body := ans.body
	if ans.status != http.StatusOK {
		return fmt.Errorf("tools/call %s: HTTP %d: %s", c.tool, ans.status, trim(body))
	}
	msg, err := parse(ans.header.Get("Content-Type"), body, c.id)
	if err != nil {
		return fmt.Errorf("tools/call %s: %w", c.tool, err)
	}
	if msg.Result == nil {
		return fmt.Errorf("tools/call %s: no result: %s", c.tool, trim(body))
	}
	if msg.Result.IsError {
		return fmt.Errorf("tools/call %s: tool error: %s", c.tool, trim(body))
	}
	if want == "" {
		return nil
	}
	for _, ct := range msg.Result.Content {
		if ct.Type == "text" && ct.Text == want {
			return nil
		}
	}
	return fmt.Errorf("tools/call %s: the answer does not carry the text %q: %s", c.tool, want, trim(body))
}

// appendArgs appends args to b as a JSON object, as encoding/json would write it (keys sorted).
// Strings that need no escaping, the usual load-test argument, are copied as they are, without
// the allocations of encoding/json; anything else goes through encoding/json.
func appendArgs(b []byte, args map[string]any) ([]byte, error) {
	keys := make([]string, 0, 8)
	for k := range args {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		if s, ok := args[k].(string); ok {
			b = appendString(b, s)
			continue
		}
		v, err := json.Marshal(args[k])
		if err != nil {
			return b, fmt.Errorf("argument %q: %w", k, err)
		}
		b = append(b, v...)
	}
	return append(b, '}'), nil
}

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	if plain(s) {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	v, _ := json.Marshal(s) // a string always encodes
	return append(b, v...)
}

// plain says whether encoding/json writes s between quotes unchanged: printable ASCII with no
// quote, backslash or HTML-escaped character.
func plain(s string) bool {
	for i := range len(s) {
		switch c := s[i]; {
		case c < 0x20, c >= 0x7f, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}

// answer is an HTTP answer, read in full.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// post sends one JSON-RPC message with the headers of the client's protocol generation (a
// modern client sends nothing but tools/call).
func (c *Client) post(ctx context.Context, payload []byte) (answer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(payload))
	if err != nil {
		return answer{}, err
	}
	h := req.Header
	maps.Copy(h, c.header)
	h["Content-Type"] = []string{"application/json"}
	h["Accept"] = []string{"application/json, text/event-stream"}
	if c.proto == Modern {
		h["Mcp-Protocol-Version"] = []string{c.proto}
		h["Mcp-Method"] = []string{"tools/call"}
		h["Mcp-Name"] = []string{c.tool}
	} else if c.session != "" {
		h["Mcp-Session-Id"] = []string{c.session}
		h["Mcp-Protocol-Version"] = []string{c.proto}
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, fmt.Errorf("reading the answer: %w", err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: body}, nil
}

// rpc is the part of a JSON-RPC message a client checks.
type rpc struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Result *struct {
		IsError bool `json:"isError"`
		Content []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"content"`
	} `json:"result"`
	Error *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// parse finds the response to request id in a JSON body or an SSE stream of messages, skipping
// notifications and server requests on the stream. A response with another id or with a
// JSON-RPC error is an error; so is a body with no response.
func parse(contentType string, body []byte, id int64) (*rpc, error) {
	check := func(data []byte) (*rpc, bool, error) {
		var m rpc
		if err := json.Unmarshal(data, &m); err != nil {
			return nil, false, fmt.Errorf("answer is not JSON-RPC: %w: %s", err, trim(data))
		}
		if m.Method != "" { // a notification or server request on the stream
			return nil, false, nil
		}
		if string(m.ID) != strconv.FormatInt(id, 10) {
			return nil, false, fmt.Errorf("answer has id %s, want %d", trim(m.ID), id)
		}
		if m.Error != nil {
			return nil, false, fmt.Errorf("answer is a JSON-RPC error %d: %s", m.Error.Code, m.Error.Message)
		}
		return &m, true, nil
	}
	if !strings.HasPrefix(contentType, "text/event-stream") {
		m, ok, err := check(body)
		if err == nil && !ok {
			err = fmt.Errorf("answer is not a response: %s", trim(body))
		}
		return m, err
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	var data []byte
	flush := func() (*rpc, bool, error) {
		if len(data) == 0 {
			return nil, false, nil
		}
		m, ok, err := check(data)
		data = data[:0]
		return m, ok, err
	}
	for sc.Scan() {
		line := sc.Bytes()
		switch {
		case len(line) == 0: // end of an event
			if m, ok, err := flush(); err != nil || ok {
				return m, err
			}
		case bytes.HasPrefix(line, []byte("data:")):
			if len(data) > 0 {
				data = append(data, '\n')
			}
			data = append(data, bytes.TrimPrefix(bytes.TrimPrefix(line, []byte("data:")), []byte(" "))...)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading the event stream: %w", err)
	}
	if m, ok, err := flush(); err != nil || ok {
		return m, err
	}
	return nil, fmt.Errorf("no response with id %d in the event stream: %s", id, trim(body))
}

// trim shortens b for an error message.
func trim(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

// Close ends a [Legacy] client's session with an HTTP DELETE, as a well-behaved client does when
// it is done (the server frees the session at once rather than at its idle expiry). A [Modern]
// client has no session and Close does nothing.
func (c *Client) Close(ctx context.Context) error {
	if c.session == "" {
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, c.url, nil)
	if err != nil {
		return err
	}
	maps.Copy(req.Header, c.header)
	req.Header["Mcp-Session-Id"] = []string{c.session}
	req.Header["Mcp-Protocol-Version"] = []string{c.proto}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("closing the session: %w", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("closing the session: HTTP %d", resp.StatusCode)
	}
	c.session = ""
	return nil
}
