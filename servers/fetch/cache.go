package fetch

import (
	"sync"
	"time"
)

// Bounds of the page cache.
const (
	// cacheTTL is how long a page stays readable by start_index without a new fetch.
	cacheTTL = 5 * time.Minute
	// cacheMaxBytes bounds the content held in all; cacheMaxEntryBytes one page's.
	cacheMaxBytes      = 64 << 20
	cacheMaxEntryBytes = 16 << 20
)

// pageCache keeps, for a few minutes, the converted content of pages that needed more than one
// result, so that reading on with start_index continues the same text (a page that changed
// between two calls would make the offsets meaningless) and does not fetch the page again. A
// call with start_index 0 always fetches. The cache is shared by all callers: fetches carry no
// credentials or cookies, so a URL gives every caller the same content.
type pageCache struct {
	mu      sync.Mutex
	entries map[cacheKey]*cacheEntry
	order   []*cacheEntry // oldest first; evicted or replaced entries are skipped
	size    int
	now     func() time.Time
}

type cacheKey struct{ url, format string }

type cacheEntry struct {
	key     cacheKey
	meta    fetchResult // everything but the page: Content, StartIndex and the paging fields are unset
	content string
	expires time.Time
}

func newPageCache() *pageCache {
	return &pageCache{entries: map[cacheKey]*cacheEntry{}, now: time.Now}
}

// get returns the live entry for k.
func (c *pageCache) get(k cacheKey) (*cacheEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	if !ok || c.now().After(e.expires) {
		return nil, false
	}
	return e, true
}

// put stores the content of k, evicting the oldest entries to stay within cacheMaxBytes.
func (c *pageCache) put(k cacheKey, meta fetchResult, content string) {
	if len(content) > cacheMaxEntryBytes {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.entries[k]; ok {
		c.size -= len(old.content)
		delete(c.entries, k)
		old.content = "" // its place in order stays until it comes first; its text goes now
	}
	e := &cacheEntry{key: k, meta: meta, content: content, expires: c.now().Add(cacheTTL)}
	c.entries[k] = e
	c.order = append(c.order, e)
	c.size += len(content)
	now := c.now()
	for len(c.order) > 0 {
		oldest := c.order[0]
		live := c.entries[oldest.key] == oldest
		if live && c.size <= cacheMaxBytes && !now.After(oldest.expires) {
			break
		}
		c.order[0] = nil
		c.order = c.order[1:]
		if live {
			delete(c.entries, oldest.key)
			c.size -= len(oldest.content)
		}
	}
}
