// Package chunk splits a document's text into the chunks the knowledge index searches, along
// its structure: headings start a new chunk and give every chunk its heading trail; paragraphs,
// list items and code blocks are kept whole while they fit; a chunk holds at most MaxChars,
// and consecutive chunks of one section share up to Overlap characters of whole lines so that a
// passage cut in two is still found in one piece. Every chunk carries its line range in the
// text, so that each hit is citable and readable with knowledge_get_document.
//
// Markdown (and HTML already turned into markdown) is read for ATX and setext headings, fenced
// code blocks and list items; plain text for paragraphs and list items; source code for
// top-level declarations, which become the heading of the lines under them.
package chunk

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mcphub/mcphub/servers/knowledge/store"
)

// Kind says how a text is structured.
type Kind string

// The kinds the chunker reads.
const (
	Markdown Kind = "markdown"
	Text     Kind = "text"
	Code     Kind = "code"
)

// Options bound the chunks.
type Options struct {
	// MaxChars is the most bytes of text in one chunk; at least 64.
	MaxChars int
	// Overlap is the most bytes of whole lines a chunk repeats from the one before it in the
	// same section; less than MaxChars/2.
	Overlap int
}

// Defaults: about 300 tokens a chunk, which keeps a hit's snippet readable and an embedding
// focused, with an overlap of a few lines.
const (
	DefaultMaxChars = 1500
	DefaultOverlap  = 200
	minMaxChars     = 64
	maxHeadingLen   = 200
	maxTitleLen     = 300
)

// Result is a split document.
type Result struct {
	// Title is the document's first level-1 heading, else its first heading, else "".
	Title string
	// Lines is the number of lines of the text.
	Lines int
	// Chunks are in document order, Ordinal from 0.
	Chunks []store.Chunk
}

// block is a structural unit of the text: a run of lines [start, end] that belongs together.
type block struct {
	heading bool
	level   int    // heading level, 1..6
	title   string // heading text
	start   int    // first line, 0-based
	end     int    // last line, inclusive
	decl    string // code: the declaration line that heads this block
	code    bool   // a block of source code, which starts at a top-level line
}

// SplitLines returns the lines of text as the chunker and line ranges count them: a final
// newline does not start another line.
func SplitLines(text string) []string {
	if text == "" {
		return nil
	}
	lines := strings.Split(text, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\r")
	}
	return lines
}

// Split splits text of the given kind into chunks.
func Split(kind Kind, text string, o Options) Result {
	if o.MaxChars < minMaxChars {
		o.MaxChars = DefaultMaxChars
	}
	if o.Overlap < 0 || o.Overlap >= o.MaxChars/2 {
		o.Overlap = min(DefaultOverlap, o.MaxChars/4)
	}
	if !utf8.ValidString(text) {
		text = strings.ToValidUTF8(text, "\uFFFD")
	}
	lines := SplitLines(text)
	var blocks []block
	switch kind {
	case Code:
		blocks = codeBlocks(lines)
	case Text:
		blocks = textBlocks(lines, false)
	default:
		blocks = textBlocks(lines, true)
	}
	p := packer{lines: lines, o: o}
	for _, b := range blocks {
		p.add(b)
	}
	p.flush(false)
	res := Result{Lines: len(lines), Chunks: p.chunks}
	for _, b := range blocks {
		if b.heading && b.level == 1 {
			res.Title = truncate(b.title, maxTitleLen)
			break
		}
		if b.heading && res.Title == "" {
			res.Title = truncate(b.title, maxTitleLen)
		}
	}
	return res
}

// packer accumulates blocks into chunks.
type packer struct {
	lines  []string
	o      Options
	trail  []block // heading stack
	decl   string  // code: the current declaration
	cur    []piece // lines of the chunk being built
	size   int
	hasTxt bool // cur holds more than heading lines
	chunks []store.Chunk
}

// piece is one line, or part of an over-long line, of a chunk.
type piece struct {
	line int
	text string
}

func (p *packer) headingTrail() []string {
	var out []string
	for _, h := range p.trail {
		out = append(out, h.title)
	}
	if p.decl != "" {
		out = append(out, p.decl)
	}
	return out
}

// flush emits the chunk being built. With overlap, the next chunk starts with the last whole
// lines of this one that fit in Overlap.
func (p *packer) flush(overlap bool) {
	if len(p.cur) == 0 {
		return
	}
	if !p.hasTxt && overlap {
		return
	}
	var b strings.Builder
	b.Grow(p.size)
	for i, pc := range p.cur {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(pc.text)
	}
	text := b.String()
	if strings.TrimSpace(text) != "" {
		p.chunks = append(p.chunks, store.Chunk{
			Ordinal:   len(p.chunks),
			Heading:   p.headingTrail(),
			StartLine: p.cur[0].line + 1,
			EndLine:   p.cur[len(p.cur)-1].line + 1,
			Text:      text,
			Extra:     IdentifierParts(text),
		})
	}
	var keep []piece
	if overlap && p.o.Overlap > 0 {
		n := 0
		i := len(p.cur)
		for i > 1 && n+len(p.cur[i-1].text)+1 <= p.o.Overlap {
			n += len(p.cur[i-1].text) + 1
			i--
		}
		for i < len(p.cur) && strings.TrimSpace(p.cur[i].text) == "" {
			i++ // an overlap starts at text, not at a blank line
		}
		keep = append(keep, p.cur[i:]...)
	}
	p.cur = keep
	p.size = 0
	for _, pc := range keep {
		p.size += len(pc.text) + 1
	}
	p.hasTxt = false
}

// add puts one block into chunks.
func (p *packer) add(b block) {
	if b.heading {
		p.flush(false)
		p.cur, p.size, p.hasTxt = nil, 0, false
		for len(p.trail) > 0 && p.trail[len(p.trail)-1].level >= b.level {
			p.trail = p.trail[:len(p.trail)-1]
		}
		p.trail = append(p.trail, b)
		p.decl = ""
		for l := b.start; l <= b.end; l++ {
			p.appendLine(l)
		}
		return
	}
	// In code, a declaration starts a chunk of its own, and so does the first top-level block
	// after one.
	if b.code && (b.decl != "" || p.decl != "") {
		p.flush(false)
		p.cur, p.size, p.hasTxt = nil, 0, false
		p.decl = b.decl
	}
	size := 0
	for l := b.start; l <= b.end; l++ {
		size += len(p.lines[l]) + 1
	}
	if p.hasTxt && p.size+size > p.o.MaxChars {
		p.flush(true)
	}
	// The blank lines since the chunk's last line belong to it: a chunk is a region of the text.
	if len(p.cur) > 0 {
		for l := p.cur[len(p.cur)-1].line + 1; l < b.start; l++ {
			p.appendLine(l)
		}
	}
	for l := b.start; l <= b.end; l++ {
		p.appendLine(l)
	}
	p.hasTxt = true
}

// appendLine adds one line, splitting the chunk (and the line itself, when it alone is longer
// than MaxChars) to keep every chunk within MaxChars.
func (p *packer) appendLine(l int) {
	text := p.lines[l]
	for {
		if p.size+len(text)+1 <= p.o.MaxChars {
			p.cur = append(p.cur, piece{l, text})
			p.size += len(text) + 1
			if strings.TrimSpace(text) != "" && !p.isHeadingLine(l) {
				p.hasTxt = true
			}
			return
		}
		if len(p.cur) > 0 {
			if p.hasTxt {
				p.flush(true)
			} else {
				p.flush(false) // only heading lines: emit them rather than lose them
				p.cur, p.size = nil, 0
			}
			if p.size+len(text)+1 > p.o.MaxChars {
				p.cur, p.size = nil, 0 // the overlap and this line do not fit together
			}
			continue
		}
		// A line longer than a chunk: cut it at a rune boundary, preferably after a space.
		cut := cutAt(text, p.o.MaxChars-1)
		p.cur = append(p.cur, piece{l, text[:cut]})
		p.size = cut + 1
		p.hasTxt = true
		p.flush(false)
		p.cur, p.size = nil, 0
		text = text[cut:]
		if text == "" {
			return
		}
	}
}

func (p *packer) isHeadingLine(l int) bool {
	for _, h := range p.trail {
		if l >= h.start && l <= h.end {
			return true
		}
	}
	return false
}

// cutAt returns where to cut s to at most n bytes: after the last space in the second half,
// else at a rune boundary. It is at least 1.
func cutAt(s string, n int) int {
	if len(s) <= n {
		return len(s)
	}
	for n > 1 && !utf8.RuneStart(s[n]) {
		n--
	}
	if i := strings.LastIndexByte(s[:n], ' '); i > n/2 {
		return i + 1
	}
	if n < 1 {
		_, size := utf8.DecodeRuneInString(s)
		return size
	}
	return n
}

// textBlocks reads markdown (md true) or plain text into blocks.
func textBlocks(lines []string, md bool) []block {
	var out []block
	i := 0
	for i < len(lines) {
		line := lines[i]
		if strings.TrimSpace(line) == "" {
			i++
			continue
		}
		if md {
			if fence, ok := fenceStart(line); ok {
				end := i + 1
				for end < len(lines) && !fenceEnd(lines[end], fence) {
					end++
				}
				if end == len(lines) {
					end--
				}
				out = append(out, block{start: i, end: end})
				i = end + 1
				continue
			}
			if level, title, ok := atxHeading(line); ok {
				out = append(out, block{heading: true, level: level, title: title, start: i, end: i})
				i++
				continue
			}
			if i+1 < len(lines) && !isListItem(line) {
				if level := setextLevel(lines[i+1]); level > 0 {
					out = append(out, block{heading: true, level: level, title: cleanHeading(line), start: i, end: i + 1})
					i += 2
					continue
				}
			}
		}
		// A paragraph or a list item: up to a blank line, a new list item, or (in markdown) a
		// heading or fence.
		end := i
		for end+1 < len(lines) {
			next := lines[end+1]
			if strings.TrimSpace(next) == "" || isListItem(next) {
				break
			}
			if md {
				if _, ok := fenceStart(next); ok {
					break
				}
				if _, _, ok := atxHeading(next); ok {
					break
				}
				if end+2 < len(lines) && setextLevel(lines[end+2]) > 0 && !isListItem(next) {
					break
				}
			}
			end++
		}
		out = append(out, block{start: i, end: end})
		i = end + 1
	}
	return out
}

func fenceStart(line string) (string, bool) {
	t := strings.TrimLeft(line, " ")
	if len(line)-len(t) > 3 {
		return "", false
	}
	for _, c := range []string{"```", "~~~"} {
		if strings.HasPrefix(t, c) {
			n := len(t) - len(strings.TrimLeft(t, c[:1]))
			return strings.Repeat(c[:1], n), true
		}
	}
	return "", false
}

func fenceEnd(line, fence string) bool {
	t := strings.TrimSpace(line)
	return strings.HasPrefix(t, fence) && strings.Trim(t, fence[:1]) == ""
}

// atxHeading reads "## Title ##".
func atxHeading(line string) (int, string, bool) {
	t := strings.TrimLeft(line, " ")
	if len(line)-len(t) > 3 || !strings.HasPrefix(t, "#") {
		return 0, "", false
	}
	level := len(t) - len(strings.TrimLeft(t, "#"))
	if level > 6 {
		return 0, "", false
	}
	rest := t[level:]
	if rest != "" && rest[0] != ' ' && rest[0] != '\t' {
		return 0, "", false
	}
	rest = strings.TrimSpace(rest)
	if trimmed := strings.TrimRight(rest, "#"); trimmed == "" || strings.HasSuffix(trimmed, " ") {
		rest = strings.TrimSpace(trimmed)
	}
	return level, cleanHeading(rest), true
}

func setextLevel(line string) int {
	t := strings.TrimSpace(line)
	if t == "" || len(line)-len(strings.TrimLeft(line, " ")) > 3 {
		return 0
	}
	switch {
	case strings.Trim(t, "=") == "":
		return 1
	case strings.Trim(t, "-") == "" && len(t) >= 2:
		return 2
	}
	return 0
}

func isListItem(line string) bool {
	t := strings.TrimLeft(line, " \t")
	if len(t) >= 2 && (t[0] == '-' || t[0] == '*' || t[0] == '+') && (t[1] == ' ' || t[1] == '\t') {
		return true
	}
	i := 0
	for i < len(t) && i < 9 && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	return i > 0 && i+1 < len(t) && (t[i] == '.' || t[i] == ')') && (t[i+1] == ' ' || t[i+1] == '\t')
}

// cleanHeading drops control characters, collapses spaces and bounds the length.
func cleanHeading(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	return truncate(strings.Join(strings.Fields(s), " "), maxHeadingLen)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// declPrefixes start the top-level declarations of common languages.
var declPrefixes = []string{
	"func ", "type ", "var ", "const ", "package ", // Go
	"def ", "class ", "async def ", // Python
	"function ", "export ", "interface ", "enum ", "module.exports", // JS/TS
	"fn ", "pub ", "impl ", "struct ", "trait ", "mod ", // Rust
	"public ", "private ", "protected ", "static ", // Java, C#
	"module ", "sub ", "proc ", "local function ", // others
}

func isTopLevel(line string) bool {
	return line != "" && line[0] != ' ' && line[0] != '\t'
}

// declaration returns line trimmed when it starts a top-level declaration, else "".
func declaration(line string) string {
	if !isTopLevel(line) {
		return ""
	}
	for _, p := range declPrefixes {
		if strings.HasPrefix(line, p) {
			return cleanHeading(strings.TrimRight(strings.TrimSpace(line), "{:"))
		}
	}
	return ""
}

// codeBlocks splits source code at blank lines before a top-level line; a block that starts
// with (comments and then) a declaration carries it as its heading.
func codeBlocks(lines []string) []block {
	var out []block
	i := 0
	for i < len(lines) {
		if strings.TrimSpace(lines[i]) == "" {
			i++
			continue
		}
		end := i
		for end+1 < len(lines) {
			if strings.TrimSpace(lines[end+1]) == "" && end+2 < len(lines) && isTopLevel(lines[end+2]) {
				break
			}
			end++
		}
		b := block{start: i, end: end, code: true}
		for l := i; l <= end; l++ {
			if d := declaration(lines[l]); d != "" {
				b.decl = d
				break
			}
			if !isComment(lines[l]) {
				break
			}
		}
		out = append(out, b)
		i = end + 1
	}
	return out
}

func isComment(line string) bool {
	t := strings.TrimSpace(line)
	for _, p := range []string{"//", "#", "/*", "*", "--", ";", "@"} {
		if strings.HasPrefix(t, p) {
			return true
		}
	}
	return false
}

// IdentifierParts returns the words inside the identifiers of text that join several words
// (ParseDuration, parse_duration, http.NewRequest), lowercased, space-separated, each once:
// index-only text so that "parse duration" finds ParseDuration. Plain words are left to the
// main text.
func IdentifierParts(text string) string {
	var out []string
	seen := map[string]bool{}
	for tok := range strings.FieldsFuncSeq(text, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '_'
	}) {
		if !compound(tok) {
			continue
		}
		parts := splitIdentifier(tok)
		if len(parts) < 2 {
			continue
		}
		for _, p := range parts {
			p = strings.ToLower(p)
			if len(p) < 2 || seen[p] {
				continue
			}
			seen[p] = true
			out = append(out, p)
			if len(out) >= 512 {
				return strings.Join(out, " ")
			}
		}
	}
	return strings.Join(out, " ")
}

// compound reports whether tok may join several words: an underscore, a digit, or an upper-case
// letter after its first character. Most words are not, and skip the split.
func compound(tok string) bool {
	for i, r := range tok {
		if r == '_' || unicode.IsDigit(r) || (i > 0 && unicode.IsUpper(r)) {
			return true
		}
	}
	return false
}

// splitIdentifier splits at underscores and at case changes: ParseHTTPRequest -> Parse HTTP
// Request.
func splitIdentifier(s string) []string {
	var parts []string
	for w := range strings.SplitSeq(s, "_") {
		rs := []rune(w)
		start := 0
		for i := 1; i < len(rs); i++ {
			prev, cur := rs[i-1], rs[i]
			next := rune(0)
			if i+1 < len(rs) {
				next = rs[i+1]
			}
			if (unicode.IsLower(prev) && unicode.IsUpper(cur)) ||
				(unicode.IsUpper(prev) && unicode.IsUpper(cur) && unicode.IsLower(next)) ||
				(unicode.IsLetter(prev) && unicode.IsDigit(cur)) || (unicode.IsDigit(prev) && unicode.IsLetter(cur)) {
				parts = append(parts, string(rs[start:i]))
				start = i
			}
		}
		if start < len(rs) {
			parts = append(parts, string(rs[start:]))
		}
	}
	return parts
}
