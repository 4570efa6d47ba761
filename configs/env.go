package configs

import (
	"fmt"
	"strings"
)

// expansion is the result of expanding the environment references in one value.
type expansion struct {
	// value is the text with every reference replaced and every "$$" turned into "$".
	value string
	// replaced reports whether at least one ${...} reference was replaced, by a variable's
	// value or by its default.
	replaced bool
	// fromEnv reports whether a variable's value went into value, which may then be a secret
	// and is not quoted in messages.
	fromEnv bool
	// problems has one message per reference that could not be expanded.
	problems []string
}

// expandEnv expands ${NAME} and ${NAME:-default} in s using lookup, which reports a
// variable's value and whether it is set. ${NAME:-default} yields default when NAME is unset
// or empty. "$$" yields "$". A "$" followed by anything but "{" or "$" stays as it is, so
// "$HOME" and a price like "5$" are left alone. A reference that is malformed or names an
// unset variable without a default is a problem and is left out of value.
func expandEnv(s string, lookup func(string) (string, bool)) expansion {
	if !strings.Contains(s, "$") {
		return expansion{value: s}
	}
	var e expansion
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			i++
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i += 2
		case '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				e.problems = append(e.problems, `unterminated "${": close it with "}", or write "$${" for a literal "${"`)
				i = len(s)
				continue
			}
			ref := s[i+2 : i+2+end]
			i += 2 + end + 1
			name, def, hasDef := strings.Cut(ref, ":-")
			if !isEnvName(name) || strings.Contains(def, "${") {
				e.problems = append(e.problems, fmt.Sprintf(
					"invalid reference %q: write ${NAME} or ${NAME:-default}, where NAME is letters, digits and _ and default holds no reference",
					"${"+ref+"}"))
				continue
			}
			val, set := lookup(name)
			switch {
			case set && (val != "" || !hasDef):
				b.WriteString(val)
				e.fromEnv = true
			case hasDef:
				b.WriteString(def)
			default:
				e.problems = append(e.problems, fmt.Sprintf("environment variable %s is not set", name))
				continue
			}
			e.replaced = true
		default:
			b.WriteByte('$')
			i++
		}
	}
	e.value = b.String()
	return e
}

// isEnvName reports whether name is a portable environment variable name.
func isEnvName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
