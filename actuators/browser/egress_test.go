package browser

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcphub/mcphub/internal/testenv"
)

// The egress tests send pages after addresses the policy refuses: the cloud metadata address,
// a private address, a name that resolves to a loopback address that is not allowed. They run
// in a network namespace that has only a loopback interface, so nothing can leave the machine
// even if the code under test is wrong; inside it, those addresses are put on lo and serve
// pages that count every request, so a wrong decision would show up as a hit rather than as a
// connection error that merely looks like a refusal.

const netnsEnv = "MCPHUB_BROWSER_NETNS"

// Addresses the namespace puts on lo.
const (
	metadataIP = "169.254.169.254"
	privateIP  = "10.11.12.13"
	rebindIP   = "127.0.0.2" // loopback, but only 127.0.0.1/32 is allowed
	rebindName = "rebind.test"
)

// inNetns re-runs the calling test inside a fresh network and mount namespace and reports
// whether the caller is already inside (then it should run the test body).
func inNetns(t *testing.T) bool {
	t.Helper()
	if os.Getenv(netnsEnv) == "1" {
		return true
	}
	if testing.Short() {
		t.Skip("integration test: runs Chromium in a network namespace")
	}
	testenv.RequireChromium(t)
	unshare, err := exec.LookPath("unshare")
	if err != nil || os.Geteuid() != 0 {
		msg := "the egress tests need root and unshare (util-linux) to make a loopback-only network namespace"
		if testenv.InCI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	hosts := filepath.Join(t.TempDir(), "hosts")
	if err := os.WriteFile(hosts, []byte("127.0.0.1 localhost\n::1 localhost\n"+rebindIP+" "+rebindName+"\n"), 0o644); err != nil { //nolint:gosec // G306: a hosts file is world-readable
		t.Fatal(err)
	}
	script := strings.Join([]string{
		"set -e",
		"ip link set lo up",
		"ip addr add " + metadataIP + "/32 dev lo",
		"ip addr add " + privateIP + "/32 dev lo",
		"mount --bind \"$HOSTS\" /etc/hosts",
		// Nothing but lo: fail loudly if the namespace has another interface.
		"test \"$(ip -o link show | wc -l)\" = 1",
		"exec \"$@\"",
	}, "\n")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	args := []string{"--net", "--mount", "--", "sh", "-c", script, "sh", os.Args[0],
		"-test.run", "^" + t.Name() + "$", "-test.count=1", "-test.v"}
	cmd := exec.CommandContext(ctx, unshare, args...)
	cmd.Env = append(os.Environ(), netnsEnv+"=1", "HOSTS="+hosts)
	out, err := cmd.CombinedOutput()
	t.Logf("inside the namespace:\n%s", out)
	if err != nil {
		t.Fatalf("the test failed inside the network namespace: %v", err)
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("the test did not pass inside the namespace")
	}
	return false
}

// trap serves on addr and counts every request: any hit is a leak.
type trap struct {
	url  string
	hits atomic.Int64
}

func newTrap(t *testing.T, ip string) *trap {
	t.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatalf("listening on %s (is it on lo?): %v", ip, err)
	}
	tr := &trap{url: "http://" + ln.Addr().String()}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			tr.hits.Add(1)
			_, _ = w.Write([]byte("<title>SECRET</title>SECRET " + ip))
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return tr
}

func TestIntegrationBrowserEgress(t *testing.T) {
	if !inNetns(t) {
		return
	}
	meta, private, rebind := newTrap(t, metadataIP), newTrap(t, privateIP), newTrap(t, rebindIP)
	_, rebindPort, _ := net.SplitHostPort(strings.TrimPrefix(rebind.url, "http://"))
	rebindURL := "http://" + rebindName + ":" + rebindPort + "/"

	mux := http.NewServeMux()
	html := func(path, body string) {
		mux.HandleFunc(path, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write([]byte(body))
		})
	}
	mux.HandleFunc("/to-metadata", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, meta.url+"/latest/meta-data/", http.StatusFound)
	})
	mux.HandleFunc("/to-private", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, private.url+"/", http.StatusFound)
	})
	html("/embeds", fmt.Sprintf(`<!doctype html><title>Embeds</title>
<img src="%[1]s/img.png">
<iframe src="%[2]s/frame"></iframe>
<script>
fetch(%[3]q).catch(() => {});
const x = new XMLHttpRequest(); x.open('GET', %[4]q); x.send();
try { new WebSocket(%[5]q); } catch (e) {}
new Worker(URL.createObjectURL(new Blob(["fetch(" + JSON.stringify(%[6]q) + ").catch(() => {})"], {type: 'text/javascript'})));
</script><p>embeds page</p>`,
		meta.url, private.url, meta.url+"/fetch", private.url+"/xhr",
		"ws://"+strings.TrimPrefix(private.url, "http://")+"/ws", meta.url+"/worker"))
	html("/links", `<!doctype html><title>Links</title><a href="file:///etc/passwd">passwd</a>`)
	html("/late", fmt.Sprintf(`<!doctype html><title>Late</title><button onclick='location.href=%q'>go</button>`, meta.url+"/late"))
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	site := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = site.Serve(ln) }()
	t.Cleanup(func() { _ = site.Close() })
	base := "http://" + ln.Addr().String()

	ts := newTestServer(t, nil)

	refused := func(t *testing.T, name string, args map[string]any, want ...string) string {
		t.Helper()
		out, isErr := ts.call(t, name, args)
		if !isErr {
			t.Errorf("%s %v was not refused:\n%s", name, args, out)
		}
		if !strings.Contains(out, "egress policy refused") {
			t.Errorf("%s %v: the refusal does not name the egress policy:\n%s", name, args, out)
		}
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("%s %v: want %q in:\n%s", name, args, w, out)
			}
		}
		return out
	}

	// Typed URLs.
	refused(t, "browser_navigate", map[string]any{"url": meta.url + "/latest/meta-data/"}, "link-local")
	refused(t, "browser_navigate", map[string]any{"url": private.url + "/"}, "private")
	// The name resolves to 127.0.0.2 (the egress package may show it IPv4-mapped).
	refused(t, "browser_navigate", map[string]any{"url": rebindURL}, "127.0.0.2")
	for _, u := range []string{"file:///etc/passwd", "chrome://version", "devtools://devtools/bundled/inspector.html",
		"javascript:alert(1)", "data:text/html,<h1>hi</h1>", "view-source:" + base + "/"} {
		refused(t, "browser_navigate", map[string]any{"url": u}, "not allowed")
	}

	// Redirects.
	out := refused(t, "browser_navigate", map[string]any{"url": base + "/to-metadata"}, "link-local")
	h := handleOf(t, out)
	refused(t, "browser_navigate", map[string]any{"browser_session": h, "url": base + "/to-private"}, "private")

	// Sub-resources, XHR, fetch, WebSocket, workers, iframes.
	out = ts.mustCall(t, "browser_navigate", map[string]any{"browser_session": h, "url": base + "/embeds"})
	if !strings.Contains(out, "blocked") || !strings.Contains(out, "egress policy refused") {
		t.Errorf("embeds summary does not report blocked requests:\n%s", out)
	}
	time.Sleep(500 * time.Millisecond) // the worker and the WebSocket start after load
	out = ts.mustCall(t, "browser_network_requests", map[string]any{"browser_session": h})
	if n := strings.Count(out, "BLOCKED: egress policy refused"); n < 3 {
		t.Errorf("network log shows %d blocked requests, want at least 3:\n%s", n, out)
	}
	snap := ts.mustCall(t, "browser_snapshot", map[string]any{"browser_session": h})
	if strings.Contains(snap, "SECRET") {
		t.Errorf("a refused page's content is visible:\n%s", snap)
	}

	// A link to file:// does nothing.
	ts.mustCall(t, "browser_navigate", map[string]any{"browser_session": h, "url": base + "/links"})
	snap = ts.mustCall(t, "browser_snapshot", map[string]any{"browser_session": h})
	out = ts.mustCall(t, "browser_click", map[string]any{"browser_session": h, "ref": refOf(t, snap, `link "passwd"`)})
	if strings.Contains(out, "root:") || !strings.Contains(out, "Title: Links") {
		t.Errorf("the file: link was followed:\n%s", out)
	}

	// A page navigating itself to the metadata address.
	ts.mustCall(t, "browser_navigate", map[string]any{"browser_session": h, "url": base + "/late"})
	snap = ts.mustCall(t, "browser_snapshot", map[string]any{"browser_session": h})
	out = ts.mustCall(t, "browser_click", map[string]any{"browser_session": h, "ref": refOf(t, snap, `button "go"`)})
	if !strings.Contains(out, "egress policy refused") {
		t.Errorf("the page's own navigation to the metadata address is not reported:\n%s", out)
	}

	// The proxy is the boundary for what interception does not see: plain HTTP and CONNECT
	// through it to refused addresses are refused, naming the policy.
	proxyURL, _ := url.Parse("http://" + ts.engine.proxy.addr())
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL)}, Timeout: 10 * time.Second}
	for _, target := range []string{meta.url + "/direct", rebindURL} {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, target, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Errorf("GET %s through the proxy: %v", target, err)
			continue
		}
		body := make([]byte, 512)
		n, _ := resp.Body.Read(body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body[:n]), "egress policy refused") {
			t.Errorf("GET %s through the proxy: %d %s", target, resp.StatusCode, body[:n])
		}
	}
	conn, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(context.Background(), "tcp", ts.engine.proxy.addr())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = fmt.Fprintf(conn, "CONNECT %s HTTP/1.1\r\nHost: %[1]s\r\n\r\n", strings.TrimPrefix(private.url, "http://"))
	status, _ := bufio.NewReader(conn).ReadString('\n')
	_ = conn.Close()
	if !strings.Contains(status, "403") {
		t.Errorf("CONNECT to a private address: %q", status)
	}

	time.Sleep(300 * time.Millisecond)
	for name, tr := range map[string]*trap{"metadata": meta, "private": private, "rebind": rebind} {
		if n := tr.hits.Load(); n != 0 {
			t.Errorf("the %s address got %d requests: egress leaked", name, n)
		}
	}
}

// TestDecide is the table of the browser's scheme rules.
func TestDecide(t *testing.T) {
	for _, c := range []struct {
		raw      string
		topLevel bool
		refused  bool
		check    string
	}{
		{"https://example.com/a", true, false, "https://example.com/a"},
		{"HTTP://Example.com", true, false, "http://Example.com"},
		{"ws://example.com/s", false, false, "http://example.com/s"},
		{"wss://example.com/s", false, false, "https://example.com/s"},
		{"about:blank", true, false, ""},
		{"about:config", true, true, ""},
		{"data:text/html,hi", true, true, ""},
		{"data:image/png;base64,AAAA", false, false, ""},
		{"blob:https://example.com/uuid", false, false, ""},
		{"blob:https://example.com/uuid", true, true, ""},
		{"javascript:alert(1)", true, true, ""},
		{"javascript:alert(1)", false, true, ""},
		{"file:///etc/passwd", true, true, ""},
		{"FILE:///etc/passwd", false, true, ""},
		{"chrome://version", true, true, ""},
		{"devtools://devtools", true, true, ""},
		{"view-source:https://example.com", true, true, ""},
		{"filesystem:https://example.com/x", false, true, ""},
		{"chrome-extension://abc/x", false, true, ""},
		{"example.com", true, true, ""},
		{"http:///nohost", true, true, ""},
		{"http://[::1", true, true, ""},
		{"https://" + strings.Repeat("a", maxURLBytes), true, true, ""},
	} {
		d := decide(c.raw, c.topLevel)
		if d.refused() != c.refused {
			t.Errorf("decide(%.60q, %v) refused=%v (%s), want %v", c.raw, c.topLevel, d.refused(), d.reason, c.refused)
		}
		got := ""
		if d.check != nil {
			got = d.check.String()
		}
		if got != c.check && (c.check == "" || !strings.EqualFold(got, c.check)) {
			t.Errorf("decide(%.60q) check=%q, want %q", c.raw, got, c.check)
		}
	}
}

// FuzzDecide checks the invariants of the scheme rules on any input: no panic; only http and
// https go to the policy, always with a host; a URL that is let through without a check is
// about:, data: or blob: and never top-level data:/blob:; local schemes are never let through.
func FuzzDecide(f *testing.F) {
	for _, s := range []string{"https://example.com", "file:///etc/passwd", "data:,x", "about:blank", "ws://a/b", "javascript:1",
		"blob:http://a/b", "http://169.254.169.254/", "HtTp://a", " http://a", "http://a@b/", "\x00", "chrome://x", ""} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, raw string, topLevel bool) {
		d := decide(raw, topLevel)
		if d.refused() {
			if d.check != nil {
				t.Fatalf("refused with a URL to check: %q", raw)
			}
			return
		}
		if d.check != nil {
			if s := d.check.Scheme; !strings.EqualFold(s, "http") && !strings.EqualFold(s, "https") {
				t.Fatalf("decide(%q) checks scheme %q", raw, s)
			}
			if d.check.Host == "" {
				t.Fatalf("decide(%q) checks a URL without host", raw)
			}
			return
		}
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("decide(%q) let an unparsable URL through", raw)
		}
		switch s := strings.ToLower(u.Scheme); s {
		case "about":
		case "data", "blob":
			if topLevel {
				t.Fatalf("decide(%q) let a top-level %s: URL through", raw, s)
			}
		default:
			t.Fatalf("decide(%q) let scheme %q through unchecked", raw, s)
		}
	})
}
