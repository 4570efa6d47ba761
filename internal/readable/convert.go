package readable

import (
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// Limits of the converter's structure. The parser already refuses trees deeper than 512
// elements, so recursion is bounded; these keep hostile nesting from multiplying the output.
const (
	// maxNest is how many quotes and lists inside each other still indent; deeper ones are
	// written without further indentation (each level would copy its content once more).
	maxNest = 16
	// maxColumns bounds a table's columns (and colspan).
	maxColumns = 64
	// maxLangLen bounds a code block's language name.
	maxLangLen = 32
)

// converter renders one tree. It builds each block as a string and lets its container indent
// or prefix it, which makes nesting (lists in quotes in list items) simple and correct.
type converter struct {
	base      *url.URL
	md        bool
	limit     int  // output bytes after which conversion stops
	size      int  // text bytes written so far (without markup: close enough for a limit)
	truncated bool // the limit was reached
	nest      int  // quotes and lists currently open
	// blocky holds the inline elements (span, a, em, ...) that contain block elements, such as
	// a link around a card or a <pre> inside a <span>: they are rendered as blocks.
	blocky map[*html.Node]bool
}

func newConverter(base *url.URL, f Format, limit int) *converter {
	return &converter{base: base, md: f != FormatText, limit: limit}
}

// convert renders n's children as blocks.
func (c *converter) convert(n *html.Node) string {
	if n == nil {
		return ""
	}
	c.blocky = blockyInlines(n)
	// Trim blank lines and trailing space, not leading spaces: plain text indents quotes.
	return strings.TrimRight(strings.TrimLeft(c.blocks(n, 0, false), "\n"), " \t\n")
}

// account counts n bytes of output and stops the conversion past the limit.
func (c *converter) account(n int) {
	c.size += n
	if c.size > c.limit {
		c.truncated = true
	}
}

// blockWriter collects the blocks of one container.
type blockWriter struct {
	c      *converter
	tight  bool // a list item: a paragraph and its nested list are not separated by a blank line
	out    strings.Builder
	last   blockKind
	para   *inline
	hasOut bool
}

type blockKind int

const (
	kindOther blockKind = iota
	kindList
)

func (b *blockWriter) flush() {
	if b.para == nil {
		return
	}
	s := b.c.finishPara(b.para)
	b.para = nil
	b.add(s, kindOther)
}

func (b *blockWriter) add(s string, k blockKind) {
	s = strings.Trim(s, "\n")
	if strings.TrimSpace(s) == "" {
		return
	}
	if b.hasOut {
		if b.tight && (k == kindList || b.last == kindList) {
			b.out.WriteString("\n")
		} else {
			b.out.WriteString("\n\n")
		}
	}
	b.out.WriteString(s)
	b.hasOut, b.last = true, k
}

// block adds a finished block, ending the paragraph in progress first.
func (b *blockWriter) block(s string, k blockKind) {
	b.flush()
	b.add(s, k)
}

func (b *blockWriter) inline() *inline {
	if b.para == nil {
		b.para = &inline{md: b.c.md}
	}
	return b.para
}

func (b *blockWriter) String() string {
	b.flush()
	return b.out.String()
}

// blocks renders the children of n.
func (c *converter) blocks(n *html.Node, depth int, tight bool) string {
	bw := &blockWriter{c: c, tight: tight}
	for ch := n.FirstChild; ch != nil && !c.truncated; ch = ch.NextSibling {
		c.block(ch, bw, depth+1)
	}
	return bw.String()
}

func (c *converter) block(n *html.Node, bw *blockWriter, depth int) {
	switch n.Type {
	case html.TextNode:
		c.account(len(n.Data))
		bw.inline().text(n.Data)
		return
	case html.ElementNode:
	default:
		return
	}
	if skipped(n) {
		return
	}
	switch n.DataAtom {
	case atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6:
		bw.block(c.heading(n, depth), kindOther)
	case atom.Pre:
		bw.block(c.codeBlock(n), kindOther)
	case atom.Blockquote:
		bw.block(c.quote(n, depth), kindOther)
	case atom.Ul, atom.Ol, atom.Menu:
		bw.block(c.list(n, depth), kindList)
	case atom.Table:
		bw.block(c.table(n, depth), kindOther)
	case atom.Hr:
		if c.md {
			bw.block("---", kindOther)
		} else {
			bw.flush()
		}
	case atom.Dt:
		s := c.blocks(n, depth, false)
		if c.md && s != "" && !strings.Contains(s, "\n") {
			s = "**" + s + "**"
		}
		bw.block(s, kindOther)
	case atom.Li: // outside a list: render as a list of one
		bw.block(c.item(n, depth, "- "), kindList)
	case atom.Td, atom.Th, atom.Tr, atom.Tbody, atom.Thead, atom.Tfoot: // outside a table
		c.container(n, bw, depth)
	default:
		switch {
		case isBlock(n.DataAtom):
			c.container(n, bw, depth)
		case c.blocky[n] && n.DataAtom != atom.A:
			c.container(n, bw, depth)
		case c.blocky[n]:
			s := c.blocks(n, depth, false)
			if n.DataAtom == atom.A && c.md {
				if dest := c.resolve(attr(n, "href"), true); dest != "" && s != "" {
					if strings.Contains(s, "\n") {
						s += "\n\n[link](" + dest + ")"
					} else {
						s = "[" + s + "](" + dest + ")"
					}
				}
			}
			bw.block(s, kindOther)
		default:
			c.inlineNode(n, bw.inline(), depth)
		}
	}
}

// container renders the children of a block that adds no markup of its own (div, section,
// article, ...) straight into the parent's blocks: building it as a string for the parent to
// copy would cost a copy of the content per level of nesting.
func (c *converter) container(n *html.Node, bw *blockWriter, depth int) {
	bw.flush()
	for ch := n.FirstChild; ch != nil && !c.truncated; ch = ch.NextSibling {
		c.block(ch, bw, depth+1)
	}
	bw.flush()
}

// blockyInlines finds the elements under root that are not blocks but contain one, in one
// pass: each block element marks its ancestors until one is marked already.
func blockyInlines(root *html.Node) map[*html.Node]bool {
	m := map[*html.Node]bool{}
	walk(root, func(x *html.Node) bool {
		if x.Type != html.ElementNode {
			return true
		}
		if skipped(x) {
			return false
		}
		if isBlock(x.DataAtom) {
			for p := x.Parent; p != nil && p != root && !m[p]; p = p.Parent {
				m[p] = true
			}
		}
		return true
	})
	return m
}

// inlineNode renders n into w; block elements met inside inline content are flattened.
func (c *converter) inlineNode(n *html.Node, w *inline, depth int) {
	switch n.Type {
	case html.TextNode:
		c.account(len(n.Data))
		w.text(n.Data)
		return
	case html.ElementNode:
	default:
		return
	}
	if skipped(n) || c.truncated {
		return
	}
	switch n.DataAtom {
	case atom.A:
		c.link(n, w, depth)
	case atom.Em, atom.I, atom.Cite, atom.Dfn, atom.Var:
		c.emphasis(n, w, depth, "*", &w.inEm)
	case atom.Strong, atom.B:
		c.emphasis(n, w, depth, "**", &w.inStrong)
	case atom.Del, atom.S, atom.Strike:
		c.emphasis(n, w, depth, "~~", &w.inDel)
	case atom.Code, atom.Kbd, atom.Samp, atom.Tt:
		c.codeSpan(n, w)
	case atom.Img:
		c.image(n, w)
	case atom.Br:
		w.hardBreak()
	case atom.Q:
		sub := w.sub()
		c.inlineChildren(n, sub, depth)
		w.appendWrapped(sub, "\"", "\"")
	default:
		block := isBlock(n.DataAtom) || n.DataAtom == atom.Td || n.DataAtom == atom.Th
		if block {
			w.markSpace()
		}
		c.inlineChildren(n, w, depth)
		if block {
			w.markSpace()
		}
	}
}

func (c *converter) inlineChildren(n *html.Node, w *inline, depth int) {
	for ch := n.FirstChild; ch != nil && !c.truncated; ch = ch.NextSibling {
		c.inlineNode(ch, w, depth+1)
	}
}

// emphasis wraps n's content in mark (Markdown) unless the same emphasis is already open, which
// Markdown cannot nest.
func (c *converter) emphasis(n *html.Node, w *inline, depth int, mark string, open *bool) {
	if !c.md || *open {
		c.inlineChildren(n, w, depth)
		return
	}
	sub := w.sub()
	*sub.flag(mark) = true
	c.inlineChildren(n, sub, depth)
	w.appendWrapped(sub, mark, mark)
}

func (c *converter) link(n *html.Node, w *inline, depth int) {
	sub := w.sub()
	sub.inLink = true
	c.inlineChildren(n, sub, depth)
	dest := ""
	if c.md && !w.inLink {
		dest = c.resolve(attr(n, "href"), true)
	}
	if dest == "" || strings.TrimSpace(sub.b.String()) == "" {
		w.appendWrapped(sub, "", "")
		return
	}
	w.appendWrapped(sub, "[", "]("+dest+")")
}

func (c *converter) image(n *html.Node, w *inline) {
	if !c.md || attr(n, "width") == "0" || attr(n, "height") == "0" || attr(n, "width") == "1" && attr(n, "height") == "1" {
		return // text mode, or a spacer
	}
	src := ""
	for _, k := range []string{"src", "data-src", "data-original"} {
		if v := strings.TrimSpace(attr(n, k)); v != "" && !strings.HasPrefix(strings.ToLower(v), "data:") {
			src = v
			break
		}
	}
	if src == "" {
		// srcset: "a.png 1x, b.png 2x": the first candidate.
		if f := strings.Fields(attr(n, "srcset")); len(f) > 0 {
			src = strings.TrimSuffix(f[0], ",")
		}
	}
	dest := c.resolve(src, false)
	if dest == "" {
		return
	}
	alt := altEscaper.Replace(collapseSpace(attr(n, "alt")))
	c.account(len(alt) + len(dest))
	w.raw("![" + alt + "](" + dest + ")")
}

// altEscaper keeps an image's alt text inside its brackets.
var altEscaper = strings.NewReplacer(`\`, `\\`, "[", `\[`, "]", `\]`)

// destEscaper keeps a URL one Markdown link destination.
var destEscaper = strings.NewReplacer(" ", "%20", "(", "%28", ")", "%29", "<", "%3C", ">", "%3E", "\n", "", "\r", "", "\t", "")

// resolve makes ref absolute against the base URL. Schemes that are not followable (javascript:,
// data:, vbscript:) give "". Fragment-only links give "" for anchors within the page.
func (c *converter) resolve(ref string, isLink bool) string {
	ref = strings.TrimSpace(ref)
	if ref == "" || (isLink && strings.HasPrefix(ref, "#")) {
		return ""
	}
	u, err := url.Parse(ref)
	if err != nil {
		return ""
	}
	if c.base != nil {
		u = c.base.ResolveReference(u)
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https", "ftp":
	case "mailto", "tel":
		if !isLink {
			return ""
		}
	case "":
		if c.base != nil && c.base.Scheme != "" {
			return ""
		}
	default:
		return ""
	}
	return destEscaper.Replace(u.String())
}

func (c *converter) codeSpan(n *html.Node, w *inline) {
	t := strings.Join(strings.Fields(textContent(n)), " ")
	if t == "" {
		return
	}
	c.account(len(t))
	if !c.md {
		w.raw(t)
		return
	}
	fence := strings.Repeat("`", longestRun(t, '`')+1)
	if strings.HasPrefix(t, "`") || strings.HasSuffix(t, "`") {
		t = " " + t + " "
	}
	w.raw(fence + t + fence)
}

func (c *converter) heading(n *html.Node, depth int) string {
	w := &inline{md: c.md}
	c.inlineChildren(n, w, depth)
	s := strings.TrimSpace(strings.ReplaceAll(w.b.String(), "\n", " "))
	if s == "" || !c.md {
		return s
	}
	level := int(n.Data[1] - '0')
	return strings.Repeat("#", level) + " " + s
}

func (c *converter) codeBlock(pre *html.Node) string {
	var b strings.Builder
	walk(pre, func(x *html.Node) bool {
		switch {
		case x.Type == html.TextNode:
			b.WriteString(x.Data)
		case x.Type == html.ElementNode && x.DataAtom == atom.Br:
			b.WriteByte('\n')
		case x.Type == html.ElementNode && skipped(x) && x != pre:
			return false
		}
		return true
	})
	t := strings.TrimRight(strings.TrimLeft(b.String(), "\n"), " \t\n")
	if strings.TrimSpace(t) == "" {
		return ""
	}
	c.account(len(t))
	if !c.md {
		return t
	}
	fence := strings.Repeat("`", max(3, longestRun(t, '`')+1))
	return fence + codeLanguage(pre) + "\n" + t + "\n" + fence
}

// codeLanguage finds a code block's language in the class names that highlighters and
// Markdown renderers write: language-go, lang-go, highlight-source-go, brush: go, data-lang.
func codeLanguage(pre *html.Node) string {
	nodes := []*html.Node{pre}
	if pre.Parent != nil {
		nodes = append(nodes, pre.Parent)
	}
	for ch := pre.FirstChild; ch != nil; ch = ch.NextSibling {
		if ch.Type == html.ElementNode && ch.DataAtom == atom.Code {
			nodes = append([]*html.Node{ch}, nodes...)
			break
		}
	}
	for _, n := range nodes {
		if l := attr(n, "data-lang"); l != "" {
			return cleanLang(l)
		}
		cls := attr(n, "class")
		for _, f := range strings.Fields(cls) {
			for _, p := range []string{"language-", "lang-", "highlight-source-", "highlight-"} {
				if strings.HasPrefix(f, p) && len(f) > len(p) {
					return cleanLang(f[len(p):])
				}
			}
			if i := strings.Index(f, "-lang-"); i >= 0 && len(f) > i+len("-lang-") { // mw-highlight-lang-rust
				return cleanLang(f[i+len("-lang-"):])
			}
		}
		if i := strings.Index(cls, "brush:"); i >= 0 {
			if f := strings.Fields(strings.TrimSpace(cls[i+len("brush:"):])); len(f) > 0 {
				return cleanLang(strings.TrimSuffix(f[0], ";"))
			}
		}
	}
	return ""
}

func cleanLang(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) > maxLangLen {
		return ""
	}
	for _, r := range s {
		if langRune := r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("+#._-", r); !langRune {
			return ""
		}
	}
	return s
}

func (c *converter) quote(n *html.Node, depth int) string {
	c.nest++
	s := c.blocks(n, depth, false)
	c.nest--
	if c.nest >= maxNest {
		return s
	}
	if !c.md {
		return prefixLines(s, "  ", "  ", "")
	}
	return prefixLines(s, "> ", "> ", ">")
}

func (c *converter) list(n *html.Node, depth int) string {
	ordered := n.DataAtom == atom.Ol
	num := 1
	if ordered {
		if v, err := strconv.Atoi(strings.TrimSpace(attr(n, "start"))); err == nil && v >= 0 && v < 1e9 {
			num = v
		}
	}
	var items []string
	var loose []*html.Node // content outside <li>, kept as an item of its own
	flushLoose := func() {
		if len(loose) == 0 {
			return
		}
		s := c.itemNodes(loose, depth)
		loose = nil
		if s == "" {
			return
		}
		// A list nested directly in a list belongs to the item before it.
		if len(items) > 0 {
			items[len(items)-1] += "\n" + prefixLines(s, "  ", "  ", "")
			return
		}
		items = append(items, c.marker(ordered, &num)+s)
	}
	for ch := n.FirstChild; ch != nil && !c.truncated; ch = ch.NextSibling {
		if ch.Type == html.ElementNode && ch.DataAtom == atom.Li {
			flushLoose()
			if skipped(ch) {
				continue
			}
			if s := c.item(ch, depth, c.marker(ordered, &num)); s != "" {
				items = append(items, s)
			} else if ordered {
				num--
			}
			continue
		}
		if ch.Type == html.TextNode && strings.TrimSpace(ch.Data) == "" || ch.Type != html.TextNode && ch.Type != html.ElementNode {
			continue
		}
		loose = append(loose, ch)
	}
	flushLoose()
	return strings.Join(items, "\n")
}

// marker returns the next item marker and advances num.
func (c *converter) marker(ordered bool, num *int) string {
	if !ordered {
		return "- "
	}
	m := strconv.Itoa(*num) + ". "
	*num++
	return m
}

// item renders one list item: its blocks, the first line after the marker and the others
// indented under it.
func (c *converter) item(li *html.Node, depth int, marker string) string {
	c.nest++
	s := c.blocks(li, depth, true)
	c.nest--
	if s == "" {
		return ""
	}
	indent := strings.Repeat(" ", len(marker))
	if c.nest >= maxNest {
		indent = ""
	}
	return prefixLines(s, marker, indent, "")
}

// itemNodes renders stray children of a list as blocks.
func (c *converter) itemNodes(nodes []*html.Node, depth int) string {
	bw := &blockWriter{c: c, tight: true}
	c.nest++
	for _, n := range nodes {
		c.block(n, bw, depth+1)
	}
	c.nest--
	return bw.String()
}

// prefixLines puts first before the first line of s, rest before the others, and blank
// before blank lines.
func prefixLines(s, first, rest, blank string) string {
	lines := strings.Split(s, "\n")
	var b strings.Builder
	b.Grow(len(s) + len(lines)*len(rest))
	for i, l := range lines {
		if i > 0 {
			b.WriteByte('\n')
		}
		switch {
		case i == 0:
			b.WriteString(first)
		case l == "":
			b.WriteString(blank)
		default:
			b.WriteString(rest)
		}
		b.WriteString(l)
	}
	return b.String()
}

// table renders a data table as a GitHub table (plain text: cells separated by " | "), and a
// layout table (cells holding lists, headings, code, other tables) as the blocks of its cells.
func (c *converter) table(t *html.Node, depth int) string {
	var rows []*html.Node
	var caption *html.Node
	for ch := t.FirstChild; ch != nil; ch = ch.NextSibling {
		if ch.Type != html.ElementNode {
			continue
		}
		switch ch.DataAtom {
		case atom.Tr:
			rows = append(rows, ch)
		case atom.Thead, atom.Tbody, atom.Tfoot:
			for r := ch.FirstChild; r != nil; r = r.NextSibling {
				if r.Type == html.ElementNode && r.DataAtom == atom.Tr {
					rows = append(rows, r)
				}
			}
		case atom.Caption:
			caption = ch
		}
	}
	if isLayoutTable(t, rows) {
		bw := &blockWriter{c: c}
		for _, r := range rows {
			for cell := r.FirstChild; cell != nil && !c.truncated; cell = cell.NextSibling {
				if cell.Type == html.ElementNode && !skipped(cell) {
					bw.block(c.blocks(cell, depth+1, false), kindOther)
				}
			}
		}
		return bw.String()
	}
	var grid [][]string
	cols := 0
	for _, r := range rows {
		var cells []string
		for cell := r.FirstChild; cell != nil && !c.truncated; cell = cell.NextSibling {
			if cell.Type != html.ElementNode || (cell.DataAtom != atom.Td && cell.DataAtom != atom.Th) {
				continue
			}
			w := &inline{md: c.md}
			c.inlineChildren(cell, w, depth+1)
			s := strings.Join(strings.Fields(w.b.String()), " ")
			if c.md {
				s = strings.ReplaceAll(s, "|", `\|`)
			}
			cells = append(cells, s)
			span, _ := strconv.Atoi(attr(cell, "colspan"))
			for i := 1; i < span && len(cells) < maxColumns; i++ {
				cells = append(cells, "")
			}
			if len(cells) >= maxColumns {
				cells = cells[:maxColumns]
				break
			}
		}
		if len(cells) == 0 {
			continue
		}
		cols = max(cols, len(cells))
		grid = append(grid, cells)
	}
	if len(grid) == 0 {
		return ""
	}
	var b strings.Builder
	if caption != nil {
		if s := collapseSpace(textContent(caption)); s != "" {
			b.WriteString(s + "\n\n")
		}
	}
	for i, row := range grid {
		for len(row) < cols {
			row = append(row, "")
		}
		if !c.md {
			b.WriteString(strings.TrimRight(strings.Join(row, " | "), " |") + "\n")
			continue
		}
		b.WriteString("| " + strings.Join(row, " | ") + " |\n")
		if i == 0 {
			b.WriteString("|" + strings.Repeat(" --- |", cols) + "\n")
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

// isLayoutTable reports whether a table is used for layout rather than data: it has a single
// cell, or a cell holds structure a Markdown table cannot (another table, lists, headings, code,
// quotes, several paragraphs).
func isLayoutTable(t *html.Node, rows []*html.Node) bool {
	if attr(t, "role") == "presentation" || len(rows) == 0 {
		return true
	}
	if len(rows) == 1 && findElement(rows[0], atom.Th) == nil {
		return true // one row of cells side by side: columns of a layout
	}
	cells := 0
	layout := false
	for _, r := range rows {
		for cell := r.FirstChild; cell != nil; cell = cell.NextSibling {
			if cell.Type != html.ElementNode {
				continue
			}
			cells++
			paras := 0
			walk(cell, func(x *html.Node) bool {
				if layout || x == cell || x.Type != html.ElementNode {
					return !layout
				}
				switch x.DataAtom {
				case atom.Table, atom.Ul, atom.Ol, atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6,
					atom.Pre, atom.Blockquote:
					layout = true
				case atom.P, atom.Div:
					paras++
					layout = paras > 1
				}
				return !layout
			})
			if layout {
				return true
			}
		}
	}
	return cells <= 1
}

// finishPara returns a paragraph's text, trimmed, with a leading character that Markdown would
// read as a block marker escaped.
func (c *converter) finishPara(w *inline) string {
	s := strings.Trim(w.b.String(), " \n")
	if !c.md || s == "" {
		return s
	}
	switch s[0] {
	case '#', '>', '=':
		return `\` + s
	case '-', '+':
		if len(s) == 1 || s[1] == ' ' || s[0] == '-' && strings.HasPrefix(s, "---") {
			return `\` + s
		}
	case '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		i := 0
		for i < len(s) && i < 10 && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i < len(s) && (s[i] == '.' || s[i] == ')') && (i+1 == len(s) || s[i+1] == ' ') {
			return s[:i] + `\` + s[i:]
		}
	}
	return s
}

// inline accumulates inline content with HTML's whitespace collapsing: a run of white space
// becomes one space, and spaces at the edges are remembered (lead, space) rather than written,
// so that a container can move them outside its markers ("a <em> b </em>c" -> "a *b* c").
type inline struct {
	md         bool
	b          strings.Builder
	lead       bool // white space came before any content
	space      bool // white space is pending after the content
	lineStart  bool // the last byte written is a hard line break
	inEm       bool
	inStrong   bool
	inDel      bool
	inLink     bool
	prevLetter bool // the last rune written is a letter or digit (for intraword underscores)
}

// sub returns an empty inline that inherits the open emphasis and link state.
func (w *inline) sub() *inline {
	return &inline{md: w.md, inEm: w.inEm, inStrong: w.inStrong, inDel: w.inDel, inLink: w.inLink}
}

func (w *inline) flag(mark string) *bool {
	switch mark {
	case "*":
		return &w.inEm
	case "**":
		return &w.inStrong
	default:
		return &w.inDel
	}
}

func (w *inline) markSpace() {
	switch {
	case w.lineStart:
	case w.b.Len() > 0:
		w.space = true
	default:
		w.lead = true
	}
}

func (w *inline) flushSpace() {
	if w.space {
		w.b.WriteByte(' ')
		w.space = false
		w.prevLetter = false
	}
}

// raw writes s (markup, already escaped) after any pending space.
func (w *inline) raw(s string) {
	if s == "" {
		return
	}
	w.flushSpace()
	w.b.WriteString(s)
	w.lineStart = false
	r, _ := utf8.DecodeLastRuneInString(s)
	w.prevLetter = unicode.IsLetter(r) || unicode.IsDigit(r)
}

func (w *inline) hardBreak() {
	w.space = false
	if w.b.Len() == 0 {
		return
	}
	if s := w.b.String(); strings.HasSuffix(s, "\n\n") {
		return
	}
	w.b.WriteByte('\n')
	w.lineStart = true
	w.prevLetter = false
}

// text writes a text node: white space collapsed, invisible characters dropped, Markdown
// syntax characters escaped.
func (w *inline) text(s string) {
	for i, r := range s {
		switch r {
		case ' ', '\t', '\n', '\r', '\f', '\u00a0':
			w.markSpace()
			continue
		case '\u200b', '\ufeff', '\u00ad', 0:
			continue
		}
		w.flushSpace()
		if w.md && needsEscape(s, i, r, w.prevLetter) {
			w.b.WriteByte('\\')
		}
		w.b.WriteRune(r)
		w.lineStart = false
		w.prevLetter = unicode.IsLetter(r) || unicode.IsDigit(r)
	}
}

// needsEscape reports whether r at s[i] must be escaped to stay text in Markdown. It leaves
// what cannot start markup alone (snake_case, "2 * 3"), to keep the text readable.
func needsEscape(s string, i int, r rune, prevLetter bool) bool {
	switch r {
	case '\\':
		return i+1 < len(s) && isASCIIPunct(s[i+1])
	case '`', '[', ']':
		return true
	case '*':
		spaced := i > 0 && isSpaceByte(s[i-1]) && (i+1 == len(s) || isSpaceByte(s[i+1]))
		return !spaced
	case '_':
		next := i+1 < len(s) && isWordByte(s[i+1])
		spaced := i > 0 && isSpaceByte(s[i-1]) && (i+1 == len(s) || isSpaceByte(s[i+1]))
		intraword := prevLetter && next
		return !intraword && !spaced
	case '<':
		return i+1 < len(s) && (isLetterByte(s[i+1]) || s[i+1] == '/' || s[i+1] == '!' || s[i+1] == '?')
	case '~':
		return i+1 < len(s) && s[i+1] == '~'
	}
	return false
}

func isASCIIPunct(b byte) bool {
	return b >= '!' && b <= '/' || b >= ':' && b <= '@' || b >= '[' && b <= '`' || b >= '{' && b <= '~'
}
func isSpaceByte(b byte) bool  { return b == ' ' || b == '\t' || b == '\n' || b == '\r' }
func isLetterByte(b byte) bool { return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' }
func isWordByte(b byte) bool   { return isLetterByte(b) || b >= '0' && b <= '9' || b >= 0x80 }

// appendWrapped appends sub's content between opening and closing, with sub's edge spaces moved
// outside the markers. Empty content adds only its space.
func (w *inline) appendWrapped(sub *inline, opening, closing string) {
	content := sub.b.String()
	trailingBreak := strings.HasSuffix(content, "\n")
	content = strings.TrimRight(content, "\n")
	if strings.TrimSpace(content) == "" {
		if sub.lead || sub.space || content != "" {
			w.markSpace()
		}
		return
	}
	if sub.lead {
		w.markSpace()
	}
	w.raw(opening + content + closing)
	if trailingBreak {
		w.hardBreak()
	} else if sub.space {
		w.markSpace()
	}
}

// longestRun is the longest run of b in s.
func longestRun(s string, b byte) int {
	best, cur := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == b {
			cur++
			best = max(best, cur)
		} else {
			cur = 0
		}
	}
	return best
}

// skipped reports whether an element and its content are left out: scripts, styles, forms'
// controls, embedded objects, navigation, and hidden elements.
func skipped(n *html.Node) bool {
	switch n.DataAtom {
	case atom.Script, atom.Style, atom.Noscript, atom.Template, atom.Head, atom.Title, atom.Meta,
		atom.Link, atom.Nav, atom.Iframe, atom.Frame, atom.Frameset, atom.Object, atom.Embed,
		atom.Svg, atom.Canvas, atom.Audio, atom.Video, atom.Source, atom.Track, atom.Map,
		atom.Area, atom.Input, atom.Button, atom.Select, atom.Textarea, atom.Option, atom.Datalist,
		atom.Dialog:
		return true
	}
	if n.Data == "svg" { // foreign elements carry no atom in some positions
		return true
	}
	for _, a := range n.Attr {
		switch a.Key {
		case "hidden":
			return true
		case "aria-hidden":
			if strings.EqualFold(strings.TrimSpace(a.Val), "true") {
				return true
			}
		case "role":
			if strings.EqualFold(strings.TrimSpace(a.Val), "navigation") {
				return true
			}
		case "style":
			st := strings.ToLower(strings.ReplaceAll(a.Val, " ", ""))
			if strings.Contains(st, "display:none") || strings.Contains(st, "visibility:hidden") {
				return true
			}
		}
	}
	return false
}

// isBlock reports whether elements of a start a block of their own.
func isBlock(a atom.Atom) bool {
	switch a {
	case atom.Address, atom.Article, atom.Aside, atom.Blockquote, atom.Body, atom.Center,
		atom.Details, atom.Dd, atom.Div, atom.Dl, atom.Dt, atom.Fieldset, atom.Figcaption,
		atom.Figure, atom.Footer, atom.Form, atom.Header, atom.Hgroup, atom.Html, atom.Li,
		atom.Main, atom.Ol, atom.P, atom.Pre, atom.Section, atom.Summary, atom.Table, atom.Ul,
		atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6, atom.Hr, atom.Tr, atom.Caption,
		atom.Legend, atom.Menu, atom.Tbody, atom.Thead, atom.Tfoot, atom.Search:
		return true
	}
	return false
}

// normalizeBlankLines trims trailing spaces from every line, keeps at most one blank line in a
// row, and trims the whole.
func normalizeBlankLines(s string) string {
	lines := strings.Split(s, "\n")
	out := lines[:0]
	blank := 0
	for _, l := range lines {
		l = strings.TrimRight(l, " \t")
		l = strings.TrimLeft(l, " ")
		if l == "" {
			blank++
			if blank > 1 {
				continue
			}
		} else {
			blank = 0
		}
		out = append(out, l)
	}
	return strings.TrimSpace(strings.Join(out, "\n"))
}
