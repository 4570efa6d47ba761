package memory

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Search query limits: enough for any natural question, small enough that a query costs little.
const (
	maxSearchTerms    = 32
	maxSearchTermRune = 64
)

// searchTerms splits a user's query into the words the full-text index knows: runs of letters
// and digits, lowercased, each once, in order. Everything else (quotes, operators, column
// filters, NEAR, parentheses) is a separator, so no user text is ever read as query syntax.
func searchTerms(query string) []string {
	var terms []string
	seen := map[string]bool{}
	for f := range strings.FieldsFuncSeq(query, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsNumber(r)
	}) {
		f = strings.ToLower(f)
		if utf8.RuneCountInString(f) > maxSearchTermRune {
			f = string([]rune(f)[:maxSearchTermRune])
		}
		if !utf8.ValidString(f) || seen[f] {
			continue
		}
		seen[f] = true
		terms = append(terms, f)
		if len(terms) == maxSearchTerms {
			break
		}
	}
	return terms
}
