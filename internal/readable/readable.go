package readable

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/url"
	"strings"
	"unicode/utf8"

	readability "codeberg.org/readeck/go-readability/v2"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
	"golang.org/x/net/html/charset"
	"golang.org/x/text/transform"
)

// Format is the output format of Convert.
type Format int

const (
	// FormatMarkdown is CommonMark with GitHub tables and strikethrough.
	FormatMarkdown Format = iota
	// FormatText is plain text.
	FormatText
)

// Defaults of Options.
const (
	// DefaultMaxInputBytes is the largest page Convert accepts when Options.MaxInputBytes is zero.
	DefaultMaxInputBytes = 16 << 20
	// DefaultMaxOutputBytes is where the output stops when Options.MaxOutputBytes is zero.
	DefaultMaxOutputBytes = 8 << 20
	// maxExtractElements is the largest page (in elements) given to go-readability, whose
	// scoring passes are much slower than conversion; larger pages are converted whole.
	maxExtractElements = 30000
	// minExtractedRunes is the least text that counts as "extraction found something"; a
	// shorter article is a miss (a cookie banner, a caption) and the whole body is converted.
	minExtractedRunes = 80
)

// ErrTooLarge is returned for input larger than Options.MaxInputBytes.
var ErrTooLarge = errors.New("page too large")

// Options tune Convert. The zero value converts the main content to Markdown with the default
// limits and no base URL.
type Options struct {
	// BaseURL resolves relative links and image sources; nil leaves them as they are.
	BaseURL *url.URL
	// ContentType is the page's Content-Type header, whose charset parameter, when present,
	// decides the encoding. Empty means "sniff" (see the package doc).
	ContentType string
	// Format is the output format; the default is Markdown.
	Format Format
	// FullPage converts the whole <body> without main-content extraction.
	FullPage bool
	// MaxInputBytes bounds the input; larger input returns ErrTooLarge. Zero means
	// DefaultMaxInputBytes.
	MaxInputBytes int
	// MaxOutputBytes bounds the output (approximately: it stops at the first block past it).
	// Zero means DefaultMaxOutputBytes.
	MaxOutputBytes int
}

// Page is the result of Convert.
type Page struct {
	// Title is the page's title: the article's, else <title>, else the first <h1>; it may be
	// empty.
	Title string
	// Content is the converted text: no leading or trailing blank lines, blocks separated by
	// one blank line.
	Content string
	// Extracted is true when main-content extraction found the article, false when the whole
	// body was converted.
	Extracted bool
	// Truncated is true when the output stopped at MaxOutputBytes, or the page could not be
	// parsed as a tree and only its text was kept.
	Truncated bool
	// Charset is the encoding the input was decoded from, such as "utf-8" or "windows-1252".
	Charset string
}

// Markdown returns the title and the main content of an HTML page as Markdown. page is the raw
// bytes (any encoding, see the package doc); baseURL, which may be nil, makes links absolute.
func Markdown(page []byte, baseURL *url.URL) (title, md string, err error) {
	p, err := Convert(page, Options{BaseURL: baseURL})
	return p.Title, p.Content, err
}

// Text is Markdown's plain-text twin.
func Text(page []byte, baseURL *url.URL) (title, text string, err error) {
	p, err := Convert(page, Options{BaseURL: baseURL, Format: FormatText})
	return p.Title, p.Content, err
}

// Convert converts an HTML page as Options say. The only errors are ErrTooLarge and a failure
// to decode the declared charset; any HTML, however broken, converts.
func Convert(page []byte, o Options) (Page, error) {
	if o.MaxInputBytes <= 0 {
		o.MaxInputBytes = DefaultMaxInputBytes
	}
	if o.MaxOutputBytes <= 0 {
		o.MaxOutputBytes = DefaultMaxOutputBytes
	}
	if len(page) > o.MaxInputBytes {
		return Page{}, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, len(page), o.MaxInputBytes)
	}
	utf, cs, err := ToUTF8(page, o.ContentType)
	if err != nil {
		return Page{}, err
	}
	out := Page{Charset: cs}
	doc, err := html.Parse(bytes.NewReader(utf))
	if err != nil {
		// Only nesting deeper than 512 elements fails to parse: keep the text, in linear time.
		out.Content = scanText(utf, o.MaxOutputBytes)
		out.Truncated = true
		return out, nil
	}
	base := documentBase(doc, o.BaseURL)
	out.Title = documentTitle(doc)

	c := newConverter(base, o.Format, o.MaxOutputBytes)
	if !o.FullPage {
		if art, ok := extract(doc, base); ok {
			content := c.convert(art.Node)
			if utf8.RuneCountInString(content) >= minExtractedRunes || !hasMoreText(doc, content) {
				out.Content, out.Extracted, out.Truncated = content, true, c.truncated
				if t := strings.TrimSpace(art.Title()); t != "" {
					out.Title = t
				}
				return out, nil
			}
			c = newConverter(base, o.Format, o.MaxOutputBytes)
		}
	}
	root := findElement(doc, atom.Body)
	if root == nil {
		root = doc
	}
	out.Content, out.Truncated = c.convert(root), c.truncated
	return out, nil
}

// ToUTF8 decodes page to UTF-8 and names the encoding it was in, by the rules of the package
// doc. Valid UTF-8 is returned as is, without copying.
func ToUTF8(page []byte, contentType string) ([]byte, string, error) {
	enc, name, certain := charset.DetermineEncoding(page, contentType)
	if !certain {
		// No BOM and no charset in Content-Type: bytes that are valid UTF-8 are UTF-8, whatever a
		// <meta> says (a DOM serialised by a browser is UTF-8 but keeps the page's <meta>).
		if utf8.Valid(page) {
			return page, "utf-8", nil
		}
	} else if name == "utf-8" && bytes.HasPrefix(page, []byte("\xef\xbb\xbf")) {
		page = page[3:]
	}
	if name == "utf-8" {
		return bytes.ToValidUTF8(page, []byte("\uFFFD")), name, nil
	}
	b, _, err := transform.Bytes(enc.NewDecoder(), page)
	if err != nil {
		return nil, name, fmt.Errorf("decoding %s: %w", name, err)
	}
	return b, name, nil
}

// CharsetOf returns the charset parameter of a Content-Type header, or "".
func CharsetOf(contentType string) string {
	_, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return ""
	}
	return params["charset"]
}

// extract runs go-readability on a copy of doc. ok is false when it found nothing or the page
// is too large for it.
func extract(doc *html.Node, base *url.URL) (readability.Article, bool) {
	if countElements(doc, maxExtractElements+1) > maxExtractElements {
		return readability.Article{}, false
	}
	p := readability.NewParser()
	p.KeepClasses = true // code blocks carry their language in class="language-go"
	p.Logger = slog.New(slog.DiscardHandler)
	art, err := p.ParseDocument(doc, base) // nil leaves relative links alone

	if err != nil || art.Node == nil {
		return art, false
	}
	return art, true
}

// hasMoreText reports whether the whole document has clearly more text than got, the short
// result of extraction: only then is converting the whole body worth it.
func hasMoreText(doc *html.Node, got string) bool {
	body := findElement(doc, atom.Body)
	if body == nil {
		return false
	}
	n := 0
	walk(body, func(x *html.Node) bool {
		if x.Type == html.ElementNode && skipped(x) {
			return false
		}
		if x.Type == html.TextNode {
			n += len(strings.TrimSpace(x.Data))
		}
		return true
	})
	return n > 2*len(got)+minExtractedRunes
}

// documentBase returns the base URL for links: <base href> when it is absolute http(s) or
// resolves against base, else base.
func documentBase(doc *html.Node, base *url.URL) *url.URL {
	head := findElement(doc, atom.Head)
	if head == nil {
		return base
	}
	b := findElement(head, atom.Base)
	if b == nil {
		return base
	}
	href := strings.TrimSpace(attr(b, "href"))
	if href == "" {
		return base
	}
	u, err := url.Parse(href)
	if err != nil {
		return base
	}
	if base != nil {
		u = base.ResolveReference(u)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return base
	}
	return u
}

// documentTitle is <title>, else the first <h1>, whitespace collapsed.
func documentTitle(doc *html.Node) string {
	for _, a := range []atom.Atom{atom.Title, atom.H1} {
		if n := findElement(doc, a); n != nil {
			if t := collapseSpace(textContent(n)); t != "" {
				return t
			}
		}
	}
	return ""
}

// walk visits n and its descendants in document order, iteratively; fn returns false to skip a
// node's children.
func walk(n *html.Node, fn func(*html.Node) bool) {
	x := n
	for x != nil {
		if fn(x) && x.FirstChild != nil {
			x = x.FirstChild
			continue
		}
		for x != n && x.NextSibling == nil {
			x = x.Parent
		}
		if x == n {
			return
		}
		x = x.NextSibling
	}
}

func findElement(n *html.Node, a atom.Atom) *html.Node {
	var found *html.Node
	walk(n, func(x *html.Node) bool {
		if found != nil {
			return false
		}
		if x.Type == html.ElementNode && x.DataAtom == a {
			found = x
			return false
		}
		return true
	})
	return found
}

// countElements counts the elements under n, stopping at limit.
func countElements(n *html.Node, limit int) int {
	c := 0
	walk(n, func(x *html.Node) bool {
		if x.Type == html.ElementNode {
			c++
		}
		return c < limit
	})
	return c
}

// textContent is the text under n, unformatted.
func textContent(n *html.Node) string {
	var b strings.Builder
	walk(n, func(x *html.Node) bool {
		if x.Type == html.TextNode {
			b.WriteString(x.Data)
		}
		return true
	})
	return b.String()
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Namespace == "" && a.Key == key {
			return a.Val
		}
	}
	return ""
}

func collapseSpace(s string) string { return strings.Join(strings.Fields(s), " ") }

// scanText is the fallback for input the tree parser refuses: the text tokens, with a line break
// at block tags and nothing from scripts and styles, in one linear pass.
func scanText(page []byte, limit int) string {
	z := html.NewTokenizer(bytes.NewReader(page))
	var b strings.Builder
	skip := 0
	for b.Len() < limit {
		switch z.Next() {
		case html.ErrorToken: // io.EOF, or the reader's error: either way the text so far
			return normalizeBlankLines(b.String())
		case html.StartTagToken:
			name, _ := z.TagName()
			a := atom.Lookup(name)
			if scanSkipped(a) {
				skip++
			} else if isBlock(a) {
				b.WriteString("\n\n")
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			a := atom.Lookup(name)
			if scanSkipped(a) && skip > 0 {
				skip--
			} else if isBlock(a) {
				b.WriteString("\n\n")
			}
		case html.TextToken:
			if skip == 0 {
				if t := collapseSpace(string(z.Text())); t != "" {
					b.WriteString(t)
					b.WriteByte(' ')
				}
			}
		}
	}
	return normalizeBlankLines(b.String())
}

// scanSkipped reports the elements whose text scanText leaves out.
func scanSkipped(a atom.Atom) bool {
	return a == atom.Script || a == atom.Style || a == atom.Template || a == atom.Noscript || a == atom.Title
}
