package egress

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/mcphub/mcphub/configs"
)

// fakeResolver answers from a map: unit tests of the decision never touch real DNS.
type fakeResolver map[string][]string

func (f fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	list, ok := f[host]
	if !ok {
		return nil, fmt.Errorf("no such host %s", host)
	}
	out := make([]netip.Addr, 0, len(list))
	for _, s := range list {
		out = append(out, netip.MustParseAddr(s))
	}
	return out, nil
}

func mustPolicy(t testing.TB, allow, deny []string) *Policy {
	t.Helper()
	p, err := New(configs.EgressConfig{Allow: allow, Deny: deny})
	if err != nil {
		t.Fatal(err)
	}
	return p.WithResolver(fakeResolver{
		"example.com":       {"93.184.215.14"},
		"dual.example.com":  {"93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"},
		"localhost":         {"127.0.0.1", "::1"},
		"rebind.example":    {"93.184.215.14", "10.1.2.3"},
		"metadata.internal": {"169.254.169.254"},
		"intranet.corp":     {"10.0.0.7"},
		"api.corp":          {"10.0.0.8"},
		"mapped.example":    {"::ffff:93.184.215.14"},
		"mapped.corp":       {"::ffff:10.0.0.9"},
	})
}

func TestCheck(t *testing.T) {
	def := mustPolicy(t, nil, nil)
	allowLoop := mustPolicy(t, []string{"127.0.0.1/32", "*.corp"}, []string{"evil.example", "10.0.0.8/32"})
	cases := []struct {
		name   string
		p      *Policy
		url    string
		refuse string // substring of the reason; "" = allowed
	}{
		{"public name", def, "https://example.com/a?b=c", ""},
		{"public dual stack", def, "http://dual.example.com/", ""},
		{"public literal", def, "http://93.184.215.14:8080/", ""},
		{"file scheme", def, "file:///etc/passwd", `scheme "file" is not allowed`},
		{"chrome scheme", def, "chrome://settings", `scheme "chrome"`},
		{"javascript", def, "javascript:alert(1)", `scheme "javascript"`},
		{"data", def, "data:text/html,hi", `scheme "data"`},
		{"ftp", def, "ftp://example.com/", `scheme "ftp"`},
		{"no scheme", def, "//example.com/", "no scheme"},
		{"credentials", def, "http://user:pw@example.com/", "credentials"},
		{"no host", def, "http:///path", "no host"},
		{"loopback literal", def, "http://127.0.0.1:8080/", "127.0.0.1 is a loopback address"},
		{"loopback other", def, "http://127.9.9.9/", "loopback"},
		{"loopback v6", def, "http://[::1]/", "loopback"},
		{"localhost name", def, "http://localhost:9/", "loopback"},
		{"LOCALHOST dot", def, "http://LOCALHOST./", "loopback"},
		{"metadata", def, "http://169.254.169.254/latest/meta-data/", "link-local (cloud metadata)"},
		{"metadata by name", def, "http://metadata.internal/", "169.254.169.254"},
		{"private 10", def, "http://10.0.0.1/", "10.0.0.1 is a private address"},
		{"private 172", def, "http://172.16.5.4/", "private"},
		{"private 192", def, "http://192.168.1.1/", "private"},
		{"ula v6", def, "http://[fd00::1]/", "private"},
		{"link-local v6", def, "http://[fe80::1]/", "link-local"},
		{"cgnat", def, "http://100.64.0.1/", "CGNAT"},
		{"multicast", def, "http://224.0.0.1/", "multicast"},
		{"multicast v6", def, "http://[ff02::1]/", "multicast"},
		{"unspecified", def, "http://0.0.0.0/", "unspecified"},
		{"this network", def, "http://0.1.2.3/", "this network"},
		{"unspecified v6", def, "http://[::]/", "unspecified"},
		{"mapped v4", def, "http://[::ffff:127.0.0.1]/", "IPv4-mapped"},
		{"mapped public", def, "http://[::ffff:93.184.215.14]/", "IPv4-mapped"},
		{"compatible v4", def, "http://[::7f00:1]/", "IPv4-compatible"},
		{"nat64 private", def, "http://[64:ff9b::a00:1]/", "embedding private IPv4"},
		{"nat64 public", def, "http://[64:ff9b::5db8:d70e]/", ""},
		{"6to4 metadata", def, "http://[2002:a9fe:a9fe::1]/", "embedding link-local"},
		{"teredo", def, "http://[2001::1]/", "Teredo"},
		{"broadcast", def, "http://255.255.255.255/", "reserved"},
		{"documentation", def, "http://192.0.2.1/", "documentation"},
		{"decimal ip", def, "http://2130706433/", "no such host"}, // Go does not read it as an IP; DNS fails
		{"resolver's mapped answer", def, "http://mapped.example/", ""},
		{"mapped private answer", def, "http://mapped.corp/", "10.0.0.9 is a private address"},
		{"mapped answer allowed by pattern", allowLoop, "http://mapped.corp/", ""},
		{"rebinding mix", def, "http://rebind.example/", "10.1.2.3 is a private address"},
		{"allowed loopback", allowLoop, "http://127.0.0.1:8080/", ""},
		{"allowed loopback not ::1", allowLoop, "http://[::1]/", "loopback"},
		{"allowed pattern", allowLoop, "http://intranet.corp/", ""},
		{"deny beats allow pattern", allowLoop, "http://api.corp/", "10.0.0.8 is in egress.deny"},
		{"deny host", allowLoop, "http://evil.example/", "evil.example is in egress.deny"},
		{"still no metadata", allowLoop, "http://169.254.169.254/", "link-local"},
		{"unknown host", def, "http://nx.invalid/", "no such host"},
		{"bad host escape", def, "http://exa%20mple.com/", "does not parse"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.p.Check(context.Background(), c.url)
			switch {
			case c.refuse == "" && err != nil:
				t.Fatalf("Check(%q) = %v, want allowed", c.url, err)
			case c.refuse != "" && err == nil:
				t.Fatalf("Check(%q) allowed, want refused with %q", c.url, c.refuse)
			case c.refuse != "" && !strings.Contains(err.Error(), c.refuse):
				t.Fatalf("Check(%q) = %v, want it to mention %q", c.url, err, c.refuse)
			}
			if err != nil && strings.Contains(c.refuse, "no such host") {
				if IsRefused(err) {
					t.Fatalf("a DNS failure must not read as a refusal: %v", err)
				}
				return
			}
			if err != nil {
				if !IsRefused(err) || !strings.HasPrefix(err.Error(), "egress policy refused ") {
					t.Fatalf("refusal %v (%T) does not name the policy", err, err)
				}
			}
		})
	}
}

func TestRefusedHidesCredentials(t *testing.T) {
	u, _ := url.Parse("http://alice:s3cret@10.0.0.1/")
	err := mustPolicy(t, nil, nil).CheckURL(u)
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("CheckURL = %v: want a refusal without the password", err)
	}
}

func TestNewRejectsGarbage(t *testing.T) {
	for _, bad := range []string{"http://x/", "a b", "*", "1.2.3.4/99"} {
		if _, err := New(configs.EgressConfig{Allow: []string{bad}}); err == nil {
			t.Errorf("New accepted allow entry %q", bad)
		}
	}
	p, err := New(configs.EgressConfig{Allow: []string{"10.0.0.0/8", "::1", "Example.COM", "*.corp."}})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.allowNets) != 2 || len(p.allowHosts) != 2 || p.allowHosts[1] != (hostPattern{"corp", true}) {
		t.Fatalf("parsed %+v %+v", p.allowNets, p.allowHosts)
	}
}

func TestWildcardIsNotTheApex(t *testing.T) {
	p := mustPolicy(t, nil, []string{"*.example.com"})
	if err := p.CheckIP("example.com", netip.MustParseAddr("93.184.215.14")); err != nil {
		t.Errorf("*.example.com refused example.com itself: %v", err)
	}
	if err := p.CheckIP("a.b.example.com", netip.MustParseAddr("93.184.215.14")); err == nil {
		t.Error("*.example.com allowed a.b.example.com")
	}
	if err := p.CheckIP("badexample.com", netip.MustParseAddr("93.184.215.14")); err != nil {
		t.Errorf("*.example.com refused badexample.com: %v", err)
	}
}

func TestIsRefusedThroughWrappers(t *testing.T) {
	r := &Refused{Host: "x", Reason: "y"}
	wrapped := &url.Error{Op: "Get", URL: "http://x", Err: fmt.Errorf("dial: %w", r)}
	if !IsRefused(wrapped) {
		t.Error("IsRefused missed a wrapped refusal")
	}
	if IsRefused(errors.New("egress policy refused (just text)")) {
		t.Error("IsRefused matched plain text")
	}
}

// FuzzCheckURL checks that no input panics and that what is allowed is a plain http(s) URL
// whose literal address, if any, is not in a forbidden range.
func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{
		"http://example.com/", "https://127.0.0.1:1/", "file:///etc/passwd", "http://[::ffff:10.0.0.1]/",
		"http://[64:ff9b::a9fe:a9fe]/", "HTTP://EXAMPLE.COM.", "http://user@h/", "javascript:1",
		"http://[fe80::1%25eth0]/", "http://0x7f.1/", "http://\x00/", "http://%31%32%37.0.0.1/",
	} {
		f.Add(s)
	}
	p, err := New(configs.EgressConfig{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := url.Parse(raw)
		if err != nil {
			return
		}
		err = p.CheckURL(u)
		if err != nil {
			if !IsRefused(err) {
				t.Fatalf("CheckURL returned a non-refusal error %v", err)
			}
			return
		}
		if s := strings.ToLower(u.Scheme); s != "http" && s != "https" {
			t.Fatalf("allowed scheme %q in %q", u.Scheme, raw)
		}
		if u.User != nil {
			t.Fatalf("allowed credentials in %q", raw)
		}
		if ip, err := netip.ParseAddr(normalizeHost(u.Hostname())); err == nil {
			if forbiddenKind(ip.WithZone("")) != "" {
				t.Fatalf("allowed forbidden address %s in %q", ip, raw)
			}
		}
	})
}

// FuzzCheckIP checks every 16-byte address: the default policy must refuse anything whose
// IPv4 form (mapped or embedded) is loopback, private or link-local.
func FuzzCheckIP(f *testing.F) {
	f.Add([]byte{127, 0, 0, 1})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 169, 254, 169, 254})
	f.Add([]byte{0x20, 0x02, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})
	p, err := New(configs.EgressConfig{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ip, ok := netip.AddrFromSlice(b)
		if !ok {
			return
		}
		err := p.CheckIP("", ip)
		v4 := ip
		if e := embeddedIPv4(ip); e.IsValid() {
			v4 = e
		}
		bad := v4.IsLoopback() || v4.IsPrivate() || v4.IsLinkLocalUnicast() || v4.IsUnspecified() ||
			ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.Is4In6()
		if bad && err == nil {
			t.Fatalf("allowed %s", ip)
		}
		if err != nil && !IsRefused(err) {
			t.Fatalf("non-refusal error %v", err)
		}
	})
}
