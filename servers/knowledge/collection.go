package knowledge

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// maxErrorsKept bounds the errors a collection remembers (the latest per source).
const maxErrorsKept = 100

// collection is one configured collection and its indexing state.
type collection struct {
	cfg      CollectionConfig
	include  []glob
	exclude  []glob
	root     string // absolute slash path: file documents are keyed relative to it
	urlNext  time.Time
	globErrs []string

	mu       sync.Mutex
	state    string // "waiting", "indexing", "ready"
	seen     int    // sources found in the current or last pass
	indexed  int    // sources read in the current or last pass
	errs     map[string]string
	lastScan time.Time
	lastURLs time.Time
	skipped  int // binary or unsupported files in the last scan
	touched  map[string]stamp
}

// stamp is a file's size and modification time.
type stamp struct {
	size int64
	mod  time.Time
}

// progress is a snapshot of a collection's indexing state.
type progress struct {
	State    string
	Seen     int
	Indexed  int
	Skipped  int
	Errors   map[string]string
	LastScan time.Time
	LastURLs time.Time
}

func newCollection(cfg CollectionConfig) *collection {
	c := &collection{cfg: cfg, state: "waiting", errs: map[string]string{}, touched: map[string]stamp{}}
	var bases []string
	for _, p := range cfg.Paths {
		// A directory named without wildcards means everything under it.
		if !hasMeta(p) {
			if fi, err := os.Stat(p); err == nil && fi.IsDir() {
				p = filepath.Join(p, "**")
			}
		}
		g, err := compileGlob(p)
		if err != nil {
			c.globErrs = append(c.globErrs, fmt.Sprintf("%s: %v", p, err))
			continue
		}
		c.include = append(c.include, g)
		bases = append(bases, g.base)
	}
	for _, p := range cfg.Exclude {
		if g, err := compileGlob(p); err == nil {
			c.exclude = append(c.exclude, g)
		}
	}
	c.root = commonDir(bases)
	return c
}

func (c *collection) progress() progress {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := progress{State: c.state, Seen: c.seen, Indexed: c.indexed, Skipped: c.skipped, LastScan: c.lastScan, LastURLs: c.lastURLs,
		Errors: make(map[string]string, len(c.errs))}
	for k, v := range c.errs {
		p.Errors[k] = v
	}
	for _, e := range c.globErrs {
		p.Errors["config"] = e
	}
	return p
}

// setError records (or, with msg "", clears) the error of one source.
func (c *collection) setError(source, msg string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if msg == "" {
		delete(c.errs, source)
		return
	}
	if _, ok := c.errs[source]; !ok && len(c.errs) >= maxErrorsKept {
		return
	}
	c.errs[source] = msg
}

// fileEntry is one file a collection's globs match.
type fileEntry struct {
	abs  string // OS path
	key  string // slash path relative to the collection's root
	size int64
	mod  time.Time
}

// errTooManyFiles stops a walk at max_files.
var errTooManyFiles = errors.New("too many files")

// listFiles walks the globs' base directories and returns the matching regular files (symbolic
// links to files included), sorted by key, at most maxFiles of them; dirs receives every
// directory walked, for the watcher.
func (c *collection) listFiles(ctx context.Context, maxFiles int, dirs func(string)) ([]fileEntry, error) {
	found := map[string]fileEntry{}
	var errs []error
	for _, g := range c.include {
		err := filepath.WalkDir(filepath.FromSlash(g.base), func(p string, d fs.DirEntry, err error) error {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err != nil {
				if p == filepath.FromSlash(g.base) && errors.Is(err, fs.ErrNotExist) {
					return fs.SkipDir // a base that does not exist (yet) matches nothing
				}
				c.setError(p, "reading: "+err.Error())
				if d != nil && d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			sp := filepath.ToSlash(p)
			if d.IsDir() {
				if sp != g.base && !g.couldContain(sp) {
					return fs.SkipDir
				}
				if dirs != nil {
					dirs(p)
				}
				return nil
			}
			if !g.match(sp) || c.excluded(sp) {
				return nil
			}
			if _, dup := found[sp]; dup {
				return nil
			}
			fi, err := os.Stat(p) // follows a symbolic link to its file
			if err != nil || !fi.Mode().IsRegular() {
				return nil
			}
			if len(found) >= maxFiles {
				return errTooManyFiles
			}
			found[sp] = fileEntry{abs: p, key: c.keyOf(sp), size: fi.Size(), mod: fi.ModTime()}
			return nil
		})
		if errors.Is(err, errTooManyFiles) {
			errs = append(errs, fmt.Errorf("more than max_files (%d) files match; the rest are not indexed", maxFiles))
			break
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	out := make([]fileEntry, 0, len(found))
	for _, f := range found {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out, errors.Join(errs...)
}

func (c *collection) excluded(p string) bool {
	return slices.ContainsFunc(c.exclude, func(g glob) bool { return g.match(p) })
}

// keyOf returns a file's document path: relative to the collection's root.
func (c *collection) keyOf(slashAbs string) string {
	rel := strings.TrimPrefix(slashAbs, c.root)
	return strings.TrimPrefix(rel, "/")
}

// under reports whether the OS path p is inside one of the collection's base directories.
func (c *collection) under(p string) bool {
	sp := filepath.ToSlash(p)
	for _, g := range c.include {
		if sp == g.base || strings.HasPrefix(sp, strings.TrimSuffix(g.base, "/")+"/") {
			return true
		}
	}
	return false
}

// urlKey is a URL document's path: the URL without its scheme (and fragment), so that its kb://
// URI reads naturally.
func urlKey(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	key := u.Host + u.EscapedPath()
	if u.RawQuery != "" {
		key += "?" + u.RawQuery
	}
	return key
}

// Document origins, told apart by their Source.
func isFileSource(src string) bool { return strings.HasPrefix(src, "/") || filepath.IsAbs(src) }
func isURLSource(src string) bool {
	return strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://")
}
func isIngestSource(src string) bool { return strings.HasPrefix(src, ingestSourcePrefix) }

const ingestSourcePrefix = "ingest:"
