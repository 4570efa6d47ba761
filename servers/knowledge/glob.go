package knowledge

import (
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"strings"
)

// glob is one compiled pattern of collection paths: absolute, split into slash-separated
// segments, with "**" standing for any number of segments.
type glob struct {
	raw  string
	segs []string
	base string // the directory before the first wildcard: where walking starts
}

// maxGlobSegments bounds a pattern's depth, which bounds the matcher's work.
const maxGlobSegments = 64

func hasMeta(s string) bool { return strings.ContainsAny(s, "*?[") }

// checkGlob reports a pattern that cannot be compiled.
func checkGlob(pattern string) error {
	_, err := compileGlob(pattern)
	return err
}

// compileGlob makes pattern absolute (from the working directory) and splits it.
func compileGlob(pattern string) (glob, error) {
	if strings.TrimSpace(pattern) == "" {
		return glob{}, errors.New("is empty")
	}
	if strings.ContainsRune(pattern, 0) {
		return glob{}, errors.New("contains a NUL byte")
	}
	abs, err := filepath.Abs(pattern)
	if err != nil {
		return glob{}, fmt.Errorf("cannot be made absolute: %w", err)
	}
	abs = filepath.ToSlash(abs)
	segs := strings.Split(strings.TrimPrefix(abs, "/"), "/")
	if len(segs) > maxGlobSegments {
		return glob{}, fmt.Errorf("has more than %d path segments", maxGlobSegments)
	}
	var baseSegs []string
	meta := false
	var out []string
	for _, s := range segs {
		if s == "**" {
			if len(out) > 0 && out[len(out)-1] == "**" {
				continue // a/**/**/b is a/**/b
			}
		} else if _, err := path.Match(s, ""); err != nil {
			return glob{}, fmt.Errorf("has a malformed segment %q: %w", s, err)
		}
		if hasMeta(s) {
			meta = true
		}
		if !meta {
			baseSegs = append(baseSegs, s)
		}
		out = append(out, s)
	}
	g := glob{raw: pattern, segs: out}
	if !meta {
		// A plain file name: walk its directory.
		baseSegs = baseSegs[:len(baseSegs)-1]
	}
	g.base = "/" + strings.Join(baseSegs, "/")
	return g, nil
}

// matchSegment matches one name against one pattern segment. A name that starts with a dot
// matches only a segment that starts with one, as in a shell.
func matchSegment(pat, name string) bool {
	if strings.HasPrefix(name, ".") && !strings.HasPrefix(pat, ".") {
		return false
	}
	ok, _ := path.Match(pat, name)
	return ok
}

// states returns the pattern positions reachable after consuming names: position i means the
// first i segments are matched. A "**" segment consumes any number of names (none with a
// leading dot).
func (g glob) states(names []string) []bool {
	cur := make([]bool, len(g.segs)+1)
	cur[0] = true
	closeStars := func(st []bool) {
		for i := 0; i < len(g.segs); i++ {
			if st[i] && g.segs[i] == "**" {
				st[i+1] = true
			}
		}
	}
	closeStars(cur)
	for _, name := range names {
		next := make([]bool, len(g.segs)+1)
		matched := false
		for i := 0; i < len(g.segs); i++ {
			if !cur[i] {
				continue
			}
			if g.segs[i] == "**" {
				if !strings.HasPrefix(name, ".") {
					next[i] = true
					matched = true
				}
				continue
			}
			if matchSegment(g.segs[i], name) {
				next[i+1] = true
				matched = true
			}
		}
		if !matched {
			return nil
		}
		closeStars(next)
		cur = next
	}
	return cur
}

// match reports whether the absolute slash path p matches.
func (g glob) match(p string) bool {
	st := g.states(strings.Split(strings.TrimPrefix(p, "/"), "/"))
	return st != nil && st[len(g.segs)]
}

// couldContain reports whether a file under the absolute slash directory dir could match, so
// that the walk can skip directories no pattern reaches.
func (g glob) couldContain(dir string) bool {
	names := strings.Split(strings.Trim(dir, "/"), "/")
	if dir == "/" {
		names = nil
	}
	st := g.states(names)
	if st == nil {
		return false
	}
	for i := 0; i < len(g.segs); i++ { // at least one more segment (the file) must follow
		if st[i] {
			return true
		}
	}
	return false
}

// commonDir returns the deepest directory that contains every one of dirs (absolute, slash).
func commonDir(dirs []string) string {
	if len(dirs) == 0 {
		return "/"
	}
	common := strings.Split(strings.Trim(dirs[0], "/"), "/")
	for _, d := range dirs[1:] {
		segs := strings.Split(strings.Trim(d, "/"), "/")
		n := 0
		for n < len(common) && n < len(segs) && common[n] == segs[n] {
			n++
		}
		common = common[:n]
	}
	return "/" + strings.Join(common, "/")
}
