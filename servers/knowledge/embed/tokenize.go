package embed

import (
	"unicode"
	"unicode/utf8"
)

// maxRunBytes bounds a run of letters and digits that is looked at: longer runs are hashes,
// base64 or minified code, never words, and are skipped whole.
const maxRunBytes = 128

// tokenizer splits text into lowercase words for the word-vector table. It keeps scratch
// space between calls, so one tokenizer serves one goroutine.
//
// A word is a run of letters and digits. Identifiers matter in code documentation, so a run
// the table does not know is split further: first at camelCase boundaries ("ReadFile" is
// "read" "file", "HTTPServer" is "http" "server"), then a part still unknown at letter/digit
// boundaries ("Int64" is "int" "64" unless "int64" is known). snake_case and kebab-case split
// already, as _ and - are not letters.
type tokenizer struct {
	buf   []byte // the run, lowercased
	camel []int  // offsets in buf where a camelCase part starts, after 0
	digit []int  // offsets in buf where a letter/digit part starts, after 0
}

// visitFunc is told each candidate word (valid only during the call) and says whether it
// used it; a word not used is split further when it can be.
type visitFunc func(word []byte) bool

// words calls visit for the words of text, in order.
func (t *tokenizer) words(text string, visit visitFunc) {
	i := 0
	for i < len(text) {
		// Skip to the start of a run.
		c := text[i]
		if c < utf8.RuneSelf {
			if !isASCIIAlnum(c) {
				i++
				continue
			}
		} else {
			r, size := utf8.DecodeRuneInString(text[i:])
			if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
				i += size
				continue
			}
		}
		i = t.run(text, i, visit)
	}
}

func isASCIIAlnum(c byte) bool {
	return c-'a' < 26 || c-'A' < 26 || c-'0' < 10
}

// class of a rune for the boundary rules.
const (
	classLower = iota
	classUpper
	classDigit
	classOther // letters without case (CJK, ...)
)

func asciiClass(c byte) int {
	switch {
	case c-'a' < 26:
		return classLower
	case c-'A' < 26:
		return classUpper
	default:
		return classDigit
	}
}

func runeClass(r rune) int {
	switch {
	case unicode.IsDigit(r):
		return classDigit
	case unicode.IsUpper(r):
		return classUpper
	case unicode.IsLower(r):
		return classLower
	default:
		return classOther
	}
}

// run reads the run of letters and digits starting at i, hands its words to visit, and returns
// the offset after it.
func (t *tokenizer) run(text string, i int, visit visitFunc) int {
	t.buf, t.camel, t.digit = t.buf[:0], t.camel[:0], t.digit[:0]
	prev, prevPrev := -1, -1
	tooLong := false
	// lastUpper is the buffer offset of the last uppercase rune, for "HTTPServer": the part
	// boundary is before the last capital of a row of them.
	lastUpper := -1
	for i < len(text) {
		c := text[i]
		var class, size int
		var r rune
		if c < utf8.RuneSelf {
			if !isASCIIAlnum(c) {
				break
			}
			class, size, r = asciiClass(c), 1, rune(c)
		} else {
			r, size = utf8.DecodeRuneInString(text[i:])
			if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
				break
			}
			class = runeClass(r)
		}
		i += size
		if tooLong {
			continue
		}
		off := len(t.buf)
		if off+utf8.UTFMax > maxRunBytes {
			tooLong = true
			continue
		}
		switch {
		case prev == -1:
		case (prev == classDigit) != (class == classDigit):
			t.digit = append(t.digit, off)
			if class == classUpper && prev == classDigit {
				// "Sha256Sum": also a camel boundary.
				t.camel = append(t.camel, off)
			}
		case prev == classLower && class == classUpper:
			t.camel = append(t.camel, off)
		case prev == classUpper && class == classLower && prevPrev == classUpper:
			// "HTTPServer": the S starts the new part.
			t.camel = append(t.camel, lastUpper)
		}
		if class == classUpper {
			lastUpper = off
		}
		prevPrev, prev = prev, class
		if c < utf8.RuneSelf {
			if class == classUpper {
				c += 'a' - 'A'
			}
			t.buf = append(t.buf, c)
		} else {
			t.buf = utf8.AppendRune(t.buf, unicode.ToLower(r))
		}
	}
	if tooLong {
		return i
	}
	if visit(t.buf) {
		return i
	}
	if len(t.camel) == 0 {
		t.splitDigits(0, len(t.buf), visit)
		return i
	}
	start := 0
	for k := 0; k <= len(t.camel); k++ {
		end := len(t.buf)
		if k < len(t.camel) {
			end = t.camel[k]
		}
		if end > start && !visit(t.buf[start:end]) {
			t.splitDigits(start, end, visit)
		}
		start = end
	}
	return i
}

// splitDigits visits the letter/digit parts of buf[start:end], if it has more than one (one part
// is the range itself, visited already).
func (t *tokenizer) splitDigits(start, end int, visit visitFunc) {
	found := false
	s := start
	for _, cut := range t.digit {
		if cut <= start || cut >= end {
			continue
		}
		found = true
		visit(t.buf[s:cut])
		s = cut
	}
	if found {
		visit(t.buf[s:end])
	}
}

// Words returns the words the local embedder looks up in text, given which words the table
// knows: for tests and for explaining a ranking.
func Words(text string, known func(string) bool) []string {
	var t tokenizer
	var out []string
	t.words(text, func(w []byte) bool {
		if known(string(w)) {
			out = append(out, string(w))
			return true
		}
		return false
	})
	return out
}
