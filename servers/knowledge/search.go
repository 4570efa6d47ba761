package knowledge

import (
	"context"
	"fmt"
	"hash/fnv"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mcphub/mcphub/servers/knowledge/chunk"
	"github.com/mcphub/mcphub/servers/knowledge/store"
)

// Search modes.
const (
	modeKeyword  = "keyword"
	modeSemantic = "semantic"
	modeHybrid   = "hybrid"
)

// Ranking constants, chosen on the Go documentation dev set (make eval) among settings that
// are standard rather than fitted: rrfK is the reciprocal-rank-fusion constant; 60 (Cormack et
// al.) suits long lists from strong rankers, a smaller one lets the head of each list count
// more, which suits fusing a strong keyword ranking with weaker static word vectors (10 scored
// best of 5, 10, 20, 60). semanticWeight halves the vectors' say for the same reason. A
// document's score is its best chunk's plus a fast-decaying share of its next two, so that a
// document with several good passages edges out one with a single lucky chunk, without long
// documents winning by size.
const (
	rrfK           = 10.0
	keywordWeight  = 1.0
	semanticWeight = 0.5
	docDecay       = 0.2
	docChunks      = 3
)

const (
	// candidates is how many chunks each list contributes per requested hit, before the
	// aggregation per document.
	candidatesPerHit = 8
	minCandidates    = 64
	maxCandidates    = 400
	maxQueryTerms    = 32
	maxTermRunes     = 64
	snippetChars     = 280
	maxMoreMatches   = 3
)

// stopwords are dropped from keyword queries: they match nearly every chunk, cost the most to
// score and say little about what is wanted.
var stopwords = func() map[string]bool {
	m := map[string]bool{}
	for w := range strings.FieldsSeq(`a about above after again against all am an and any are as at be because been before
		being below between both but by can could did do does doing down during each few for from further had has have
		having he her here hers herself him himself his how i if in into is it its itself just me more most my myself no
		nor not now of off on once only or other our ours ourselves out over own same she should so some such than that
		the their theirs them themselves then there these they this those through to too under until up very was we were
		what when where which while who whom why will with would you your yours yourself yourselves like get use using
		way ways want need`) {
		m[w] = true
	}
	return m
}()

// queryTerms turns a natural-language query into keyword terms: words of letters and digits,
// lowercased, each once, with the parts of compound identifiers added (ParseDuration also
// gives parse and duration) and stopwords removed unless nothing else is left. Operators,
// quotes and punctuation are separators, so user text is never read as query syntax.
func queryTerms(q string) []string {
	var all, kept []string
	seen := map[string]bool{}
	add := func(w string) {
		w = strings.ToLower(w)
		if utf8.RuneCountInString(w) > maxTermRunes {
			w = string([]rune(w)[:maxTermRunes])
		}
		if w == "" || seen[w] {
			return
		}
		seen[w] = true
		all = append(all, w)
		if !stopwords[w] {
			kept = append(kept, w)
		}
	}
	for f := range strings.FieldsFuncSeq(q, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsNumber(r) }) {
		add(f)
		for p := range strings.FieldsSeq(chunk.IdentifierParts(f)) {
			add(p)
		}
	}
	// Words joined by a hyphen, dot or slash are also one word: SHA-256 is written sha256,
	// UTF-8 utf8, encoding/json encodingjson nowhere but json.Marshal jsonmarshal rarely.
	for f := range strings.FieldsSeq(q) {
		if joined := strings.Map(func(r rune) rune {
			if r == '-' || r == '.' || r == '/' || r == '_' {
				return -1
			}
			return r
		}, strings.Trim(f, ".,;:!?()[]{}\"'`")); joined != f && isWord(joined) {
			add(joined)
		}
	}
	if len(kept) == 0 {
		kept = all
	}
	if len(kept) > maxQueryTerms {
		kept = kept[:maxQueryTerms]
	}
	return kept
}

func isWord(s string) bool {
	return s != "" && !strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsNumber(r) })
}

// searchRequest is a parsed knowledge_search call.
type searchRequest struct {
	query    string
	filter   store.Filter
	limit    int
	mode     string
	semantic []float32 // the query's embedding, for semantic and hybrid
	embID    string
}

// docHit is one document in the results: its best chunk and the other chunks that matched.
type docHit struct {
	best  store.Hit
	score float64
	more  []store.Hit
}

// rankedChunk is a chunk with its fused score.
type rankedChunk struct {
	hit   store.Hit
	score float64
}

// fuse merges ranked lists by weighted reciprocal rank: score = sum of w / (rrfK + rank).
func fuse(lists [][]store.Hit, weights []float64) []rankedChunk {
	byID := map[int64]*rankedChunk{}
	var order []int64
	for li, list := range lists {
		for rank, h := range list {
			rc, ok := byID[h.ChunkID]
			if !ok {
				rc = &rankedChunk{hit: h}
				byID[h.ChunkID] = rc
				order = append(order, h.ChunkID)
			}
			rc.score += weights[li] / (rrfK + float64(rank+1))
		}
	}
	out := make([]rankedChunk, 0, len(order))
	for _, id := range order {
		out = append(out, *byID[id])
	}
	sortChunks(out)
	return out
}

// normalized turns one list's own scores into [0, 1] relative to its best, for the single-list
// modes (BM25 scores and cosines keep their gaps, which ranks alone would lose).
func normalized(list []store.Hit) []rankedChunk {
	out := make([]rankedChunk, len(list))
	top := 0.0
	if len(list) > 0 {
		top = list[0].Score
	}
	for i, h := range list {
		sc := 1.0 / float64(i+1)
		if top > 0 {
			sc = h.Score / top
		}
		out[i] = rankedChunk{hit: h, score: sc}
	}
	sortChunks(out)
	return out
}

func sortChunks(cs []rankedChunk) {
	sort.SliceStable(cs, func(i, j int) bool {
		if cs[i].score != cs[j].score {
			return cs[i].score > cs[j].score
		}
		return cs[i].hit.ChunkID < cs[j].hit.ChunkID
	})
}

// aggregate groups ranked chunks by document, scores each document by its best chunks, drops
// documents whose best passage duplicates a better document's (copies of a file) and chunks
// that overlap a better chunk of the same document, and returns the top limit documents.
func aggregate(chunks []rankedChunk, limit int) []docHit {
	type key struct{ c, p string }
	byDoc := map[key]*docHit{}
	counted := map[key]int{}
	var order []key
	for _, rc := range chunks {
		k := key{rc.hit.Collection, rc.hit.Path}
		d, ok := byDoc[k]
		if !ok {
			d = &docHit{best: rc.hit}
			byDoc[k] = d
			order = append(order, k)
		} else if overlaps(d.best, rc.hit) || slicesOverlap(d.more, rc.hit) {
			continue
		} else if len(d.more) < maxMoreMatches {
			d.more = append(d.more, rc.hit)
		}
		if n := counted[k]; n < docChunks {
			w := 1.0
			for range n {
				w *= docDecay
			}
			d.score += w * rc.score
			counted[k] = n + 1
		}
	}
	docs := make([]docHit, 0, len(order))
	for _, k := range order {
		docs = append(docs, *byDoc[k])
	}
	sort.SliceStable(docs, func(i, j int) bool { return docs[i].score > docs[j].score })
	seen := map[uint64]bool{}
	out := docs[:0]
	for _, d := range docs {
		h := fnv.New64a()
		_, _ = h.Write([]byte(d.best.Text))
		sum := h.Sum64()
		if seen[sum] {
			continue
		}
		seen[sum] = true
		out = append(out, d)
		if len(out) == limit {
			break
		}
	}
	return out
}

func overlaps(a, b store.Hit) bool {
	return a.StartLine <= b.EndLine && b.StartLine <= a.EndLine
}

func slicesOverlap(hs []store.Hit, b store.Hit) bool {
	for _, h := range hs {
		if overlaps(h, b) {
			return true
		}
	}
	return false
}

// rank runs the request's searches on the store and returns the documents, best first.
func (s *Server) rank(ctx context.Context, r searchRequest) ([]docHit, error) {
	k := min(max(r.limit*candidatesPerHit, minCandidates), maxCandidates)
	var kw, sem []store.Hit
	var err error
	terms := queryTerms(r.query)
	if r.mode != modeSemantic && len(terms) > 0 {
		kw, err = s.st.Keyword(ctx, store.KeywordQuery{Terms: terms, Filter: r.filter, Limit: k})
		if err != nil {
			return nil, err
		}
	}
	if r.mode != modeKeyword && r.semantic != nil {
		sem, err = s.st.Vector(ctx, store.VectorQuery{Vector: r.semantic, EmbedderID: r.embID, Filter: r.filter, Limit: k})
		if err != nil {
			return nil, err
		}
	}
	var chunks []rankedChunk
	switch r.mode {
	case modeKeyword:
		chunks = normalized(kw)
	case modeSemantic:
		chunks = normalized(sem)
	default:
		chunks = fuse([][]store.Hit{kw, sem}, []float64{keywordWeight, semanticWeight})
	}
	return aggregate(chunks, r.limit), nil
}

// stem is a light suffix stripper, enough to mark "parsing" for the term "parse" in snippets
// (the index itself uses porter stemming).
func stem(w string) string {
	for _, suf := range []string{"ing", "ed", "es", "s", "e"} {
		if len(w) > len(suf)+2 && strings.HasSuffix(w, suf) {
			return w[:len(w)-len(suf)]
		}
	}
	return w
}

// snippet returns about maxChars of text, on one line, around the place where the most
// distinct query terms occur, with the matched words marked **like this**.
func snippet(text string, terms []string, maxChars int) string {
	words := strings.Fields(text)
	if len(words) == 0 {
		return ""
	}
	stems := map[string]int{}
	for i, t := range terms {
		stems[stem(t)] = i
	}
	termOf := make([]int, len(words)) // -1: not a match
	for i, w := range words {
		termOf[i] = -1
		lw := strings.ToLower(strings.TrimFunc(w, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsNumber(r) }))
		if lw == "" {
			continue
		}
		if t, ok := stems[stem(lw)]; ok {
			termOf[i] = t
			continue
		}
		for p := range strings.FieldsSeq(chunk.IdentifierParts(w)) { // ParseDuration for "duration"
			if t, ok := stems[stem(p)]; ok {
				termOf[i] = t
				break
			}
		}
	}
	// The window of words that fits maxChars with the most distinct terms, from each start.
	bestStart, bestCount := 0, -1
	for start := range words {
		if start > 0 && termOf[start] < 0 {
			continue
		}
		n, distinct := 0, map[int]bool{}
		for i := start; i < len(words) && n+len(words[i])+1 <= maxChars; i++ {
			n += len(words[i]) + 1
			if termOf[i] >= 0 {
				distinct[termOf[i]] = true
			}
		}
		if len(distinct) > bestCount {
			bestStart, bestCount = start, len(distinct)
		}
	}
	// Start a few words before the first match, for context.
	start := max(0, bestStart-4)
	if bestCount <= 0 {
		start = 0
	}
	var b strings.Builder
	if start > 0 {
		b.WriteString("… ")
	}
	n := 0
	i := start
	for ; i < len(words); i++ {
		w := words[i]
		if n+len(w)+1 > maxChars {
			if n == 0 { // one enormous word
				w = truncateRunes(w, maxChars)
			} else {
				break
			}
		}
		if n > 0 {
			b.WriteByte(' ')
		}
		if termOf[i] >= 0 {
			b.WriteString("**")
			b.WriteString(w)
			b.WriteString("**")
		} else {
			b.WriteString(w)
		}
		n += len(w) + 1
	}
	if i < len(words) {
		b.WriteString(" …")
	}
	return b.String()
}

func truncateRunes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// kbURI is the resource URI of a document: kb://{collection}/{path}, each path segment
// escaped.
func kbURI(collection, path string) string {
	segs := strings.Split(path, "/")
	for i, seg := range segs {
		segs[i] = escapeSegment(seg)
	}
	return "kb://" + collection + "/" + strings.Join(segs, "/")
}

// escapeSegment percent-encodes what a URI path segment cannot hold as is.
func escapeSegment(seg string) string {
	var b strings.Builder
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~!$&'()*+,;=:@", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}
