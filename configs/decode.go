package configs

import (
	"encoding"
	"errors"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// This file holds a strict YAML decoder that walks a *yaml.Node alongside the reflect type of
// its target. yaml.v3's own strict mode reports problems by line and stops at the first
// unknown key; walking the tree ourselves gives every problem a dotted path and lets one pass
// report them all. Leaves (scalars and types that decode themselves) are still decoded by
// yaml.v3, so the meaning of a value is exactly yaml.v3's.

// nodeBudget bounds the nodes one decode visits. Aliases make a small file able to describe
// an exponentially large tree ("billion laughs"); the budget turns that into a problem.
const nodeBudget = 1 << 18

// envState records what environment expansion did to a scalar node.
type envState uint8

const (
	// envValue marks a node whose text holds a variable's value: it may be a secret, so
	// messages do not quote it.
	envValue envState = 1 << iota
	// envFailed marks a node whose expansion was reported as a problem: decoding skips it so
	// that the one mistake is not reported again as a type or validation error.
	envFailed
)

// decoder decodes one node tree, collecting problems.
type decoder struct {
	problemList
	env       map[*yaml.Node]envState
	budget    int
	expanding map[*yaml.Node]bool // alias nodes being followed, to stop cycles
	exhausted bool
}

func newDecoder(env map[*yaml.Node]envState) *decoder {
	if env == nil {
		env = map[*yaml.Node]envState{}
	}
	return &decoder{env: env, budget: nodeBudget, expanding: map[*yaml.Node]bool{}}
}

// pathDecoder is implemented by types of this package that decode themselves from a node and
// need their path and the decoder's state (ServerSection).
type pathDecoder interface {
	decodeYAML(d *decoder, n *yaml.Node, path string)
}

var (
	nodeType                = reflect.TypeFor[yaml.Node]()
	timeType                = reflect.TypeFor[time.Time]()
	unmarshalerType         = reflect.TypeFor[yaml.Unmarshaler]()
	textUnmarshalerType     = reflect.TypeFor[encoding.TextUnmarshaler]()
	obsoleteUnmarshalerType = reflect.TypeFor[interface {
		UnmarshalYAML(unmarshal func(any) error) error
	}]()
)

// expandEnvNodes expands environment references in every scalar value under n, in place.
// Mapping keys are left alone. Aliases are not followed: the anchored node they point to is
// expanded where it is defined, exactly once.
func (d *decoder) expandEnvNodes(n *yaml.Node, path string, lookup func(string) (string, bool)) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			d.expandEnvNodes(c, path, lookup)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			d.expandEnvNodes(n.Content[i+1], joinKey(path, n.Content[i].Value), lookup)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			d.expandEnvNodes(c, joinIndex(path, i), lookup)
		}
	case yaml.ScalarNode:
		e := expandEnv(n.Value, lookup)
		if len(e.problems) > 0 {
			for _, msg := range e.problems {
				d.add(path, "%s", msg)
			}
			d.env[n] |= envFailed
			d.quieten(path) // the value is missing, not also invalid
			return
		}
		if e.value == n.Value {
			return
		}
		n.Value = e.value
		if e.fromEnv {
			d.env[n] |= envValue
		}
		// A scalar that held a reference is typed again from its new text, quoted or not, so
		// that max_body_bytes: "${MAX_BODY}" is an integer: the text cannot add structure,
		// only be read as the number or boolean it says. An explicit tag or a block scalar
		// (| or >) keeps its type. Text that reads as null stays a string, so an empty
		// variable gives "".
		if e.replaced && n.Style&(yaml.TaggedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0 {
			n.Style &^= yaml.DoubleQuotedStyle | yaml.SingleQuotedStyle
			n.Tag = ""
			if tag := n.ShortTag(); tag != "!!null" {
				n.Tag = tag
			} else {
				n.Tag = "!!str"
			}
		}
	}
}

// decode decodes n into v, which must be settable, reporting problems under path.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if d.exhausted {
		return
	}
	d.budget--
	if d.budget < 0 {
		d.exhausted = true
		d.add("", "the document is too large or expands too many aliases")
		return
	}
	if d.env[n]&envFailed != 0 {
		return
	}
	switch n.Kind {
	case yaml.AliasNode:
		d.followAlias(n, path, func(target *yaml.Node) { d.decode(target, v, path) })
		return
	case yaml.DocumentNode:
		if len(n.Content) > 0 {
			d.decode(n.Content[0], v, path)
		}
		return
	}
	t := v.Type()
	if t == nodeType {
		v.Set(reflect.ValueOf(n).Elem())
		return
	}
	if pd, ok := v.Addr().Interface().(pathDecoder); ok {
		pd.decodeYAML(d, n, path)
		return
	}
	if t.Kind() == reflect.Pointer {
		if isNull(n) {
			v.SetZero()
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		d.decode(n, v.Elem(), path)
		return
	}
	if decodesItself(t) {
		d.delegate(n, v, path)
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			d.delegate(n, v, path) // []byte: a string or !!binary, as yaml.v3 reads it
			return
		}
		d.decodeSlice(n, v, path)
	case reflect.Map:
		d.decodeMap(n, v, path)
	case reflect.Bool, reflect.String,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64:
		d.decodeScalar(n, v, path)
	default:
		d.delegate(n, v, path) // interfaces, arrays and the rest: yaml.v3's rules
	}
}

// followAlias calls f with the node that alias n points to, unless that would loop.
func (d *decoder) followAlias(n *yaml.Node, path string, f func(*yaml.Node)) {
	if n.Alias == nil {
		d.add(path, "alias *%s has no anchor", n.Value)
		return
	}
	if d.expanding[n] {
		d.add(path, "alias *%s refers to a node that contains it", n.Value)
		return
	}
	d.expanding[n] = true
	f(n.Alias)
	delete(d.expanding, n)
}

// resolveAlias returns the node that n stands for, following aliases.
func (d *decoder) resolveAlias(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// decodesItself reports whether values of t are decoded by their own methods or by yaml.v3's
// special cases rather than walked.
func decodesItself(t reflect.Type) bool {
	pt := reflect.PointerTo(t)
	return t == timeType ||
		pt.Implements(unmarshalerType) ||
		pt.Implements(obsoleteUnmarshalerType) ||
		pt.Implements(textUnmarshalerType)
}

// delegate decodes n into v with yaml.v3 and reports its error at path.
func (d *decoder) delegate(n *yaml.Node, v reflect.Value, path string) {
	if err := n.Decode(v.Addr().Interface()); err != nil {
		d.add(path, "%s", yamlErrorText(err))
	}
}

var linePrefix = regexp.MustCompile(`^line \d+: `)

// yamlErrorText returns err's text without yaml.v3's "yaml: " and "line N: " prefixes, which
// the path replaces.
func yamlErrorText(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs := make([]string, len(te.Errors))
		for i, m := range te.Errors {
			msgs[i] = linePrefix.ReplaceAllString(m, "")
		}
		return strings.Join(msgs, "; ")
	}
	return linePrefix.ReplaceAllString(strings.TrimPrefix(err.Error(), "yaml: "), "")
}

func (d *decoder) decodeScalar(n *yaml.Node, v reflect.Value, path string) {
	want := scalarNoun(v.Kind())
	if n.Kind != yaml.ScalarNode {
		d.add(path, "must be %s, got %s", want, d.describe(n))
		return
	}
	if err := n.Decode(v.Addr().Interface()); err != nil {
		if tag := n.ShortTag(); tag == "!!int" || tag == "!!float" {
			d.add(path, "cannot use %s as %s: out of range", d.describe(n), want)
			return
		}
		d.add(path, "cannot use %s as %s", d.describe(n), want)
	}
}

func scalarNoun(k reflect.Kind) string {
	switch k {
	case reflect.Bool:
		return "a boolean (true or false)"
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "a non-negative integer"
	default:
		return "a number"
	}
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		if path == "" {
			d.add(path, "the config must be a mapping of keys such as listen: and servers:, got %s", d.describe(n))
			return
		}
		d.add(path, "must be a mapping of keys, got %s", d.describe(n))
		return
	}
	info := structInfoOf(v.Type())
	for _, p := range d.pairs(n, path) {
		key := p.key.Value
		kpath := joinKey(path, key)
		if index, ok := info.fields[key]; ok {
			d.decode(p.val, fieldByIndexAlloc(v, index), kpath)
			continue
		}
		if info.inlineMap != nil {
			m := fieldByIndexAlloc(v, info.inlineMap)
			if m.IsNil() {
				m.Set(reflect.MakeMap(m.Type()))
			}
			ev := reflect.New(m.Type().Elem()).Elem()
			d.decode(p.val, ev, kpath)
			m.SetMapIndex(reflect.ValueOf(key).Convert(m.Type().Key()), ev)
			continue
		}
		if len(info.known) == 0 {
			d.add(kpath, "unknown key (this section has no settings of its own)")
		} else {
			d.add(kpath, "unknown key (known: %s)", strings.Join(info.known, ", "))
		}
	}
}

func (d *decoder) decodeSlice(n *yaml.Node, v reflect.Value, path string) {
	if isNull(n) {
		v.SetZero()
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.add(path, "must be a list, got %s", d.describe(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		d.decode(item, s.Index(i), joinIndex(path, i))
	}
	v.Set(s)
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string) {
	if isNull(n) {
		v.SetZero()
		return
	}
	if n.Kind != yaml.MappingNode {
		d.add(path, "must be a mapping, got %s", d.describe(n))
		return
	}
	t := v.Type()
	if v.IsNil() {
		v.Set(reflect.MakeMap(t))
	}
	for _, p := range d.pairs(n, path) {
		kpath := joinKey(path, p.key.Value)
		kv := reflect.New(t.Key()).Elem()
		if t.Key().Kind() == reflect.String && !decodesItself(t.Key()) {
			kv.SetString(p.key.Value)
		} else if err := p.key.Decode(kv.Addr().Interface()); err != nil {
			d.add(kpath, "invalid key: %s", yamlErrorText(err))
			continue
		}
		ev := reflect.New(t.Elem()).Elem()
		d.decode(p.val, ev, kpath)
		v.SetMapIndex(kv, ev)
	}
}

// pair is one key and value of a mapping.
type pair struct{ key, val *yaml.Node }

// pairs returns the entries of mapping n with merge keys ("<<: *base") applied, reporting
// non-scalar and duplicate keys. Keys written in n win over merged ones; among merged
// mappings the first one listed wins.
func (d *decoder) pairs(n *yaml.Node, path string) []pair {
	var out, merged []pair
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := d.resolveAlias(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.add(path, "mapping keys must be strings, got %s at line %d", d.describe(k), k.Line)
			continue
		}
		if k.ShortTag() == "!!merge" {
			merged = append(merged, d.mergedPairs(val, path)...)
			continue
		}
		if j, dup := seen[k.Value]; dup {
			d.add(joinKey(path, k.Value), "duplicate key (first at line %d, again at line %d)", out[j].key.Line, k.Line)
			continue
		}
		seen[k.Value] = len(out)
		out = append(out, pair{k, val})
	}
	for _, p := range merged {
		if _, ok := seen[p.key.Value]; !ok {
			seen[p.key.Value] = len(out)
			out = append(out, p)
		}
	}
	return out
}

// mergedPairs returns the entries that the value of a merge key brings in.
func (d *decoder) mergedPairs(val *yaml.Node, path string) []pair {
	d.budget--
	if d.exhausted || d.budget < 0 {
		return nil
	}
	var out []pair
	switch val.Kind {
	case yaml.AliasNode:
		d.followAlias(val, path, func(target *yaml.Node) { out = d.mergedPairs(target, path) })
	case yaml.MappingNode:
		out = d.pairs(val, path)
	case yaml.SequenceNode:
		seen := map[string]bool{}
		for _, item := range val.Content {
			if d.resolveAlias(item).Kind != yaml.MappingNode {
				d.add(path, "a merge key (<<) takes a mapping or a list of mappings, got a list holding %s", d.describe(item))
				continue
			}
			for _, p := range d.mergedPairs(item, path) {
				if !seen[p.key.Value] {
					seen[p.key.Value] = true
					out = append(out, p)
				}
			}
		}
	default:
		d.add(path, "a merge key (<<) takes a mapping or a list of mappings, got %s", d.describe(val))
	}
	return out
}

// isNull reports whether n is an explicit or implicit null.
func isNull(n *yaml.Node) bool {
	return n.Kind == 0 || n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names what n holds for a message, without quoting a value that came from the
// environment, which may be a secret.
func (d *decoder) describe(n *yaml.Node) string {
	n = d.resolveAlias(n)
	if n.Kind == yaml.ScalarNode && d.env[n]&envValue != 0 {
		return "the value from the environment"
	}
	return describeKind(n)
}

func describeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "null"
		}
		return quoteValue(n.Value)
	default:
		return "nothing"
	}
}

// quoteValue quotes s for a message, shortened to keep messages readable.
func quoteValue(s string) string {
	const maxLen = 60
	if len(s) > maxLen {
		cut := maxLen
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return strconv.Quote(s)
}

var plainKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// joinKey appends a mapping key to a path: "http" + "max_body_bytes" gives
// "http.max_body_bytes"; a key that is not a plain word is quoted: servers["a b"].
func joinKey(path, key string) string {
	if !plainKey.MatchString(key) {
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// joinIndex appends a list index to a path: "sources" + 0 gives "sources[0]".
func joinIndex(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// structInfo is what decoding needs to know about a struct type.
type structInfo struct {
	fields    map[string][]int // key -> field index path, through inline structs
	known     []string         // the keys, sorted, for messages
	inlineMap []int            // index path of the ",inline" map that takes other keys, or nil
}

var structInfos sync.Map // reflect.Type -> *structInfo

func structInfoOf(t reflect.Type) *structInfo {
	if info, ok := structInfos.Load(t); ok {
		return info.(*structInfo)
	}
	info := &structInfo{fields: map[string][]int{}}
	collectFields(t, nil, info, map[reflect.Type]bool{})
	for k := range info.fields {
		info.known = append(info.known, k)
	}
	sort.Strings(info.known)
	structInfos.Store(t, info)
	return info
}

// collectFields adds the keys of struct type t, whose fields sit at index path prefix, to info,
// following yaml.v3's rules: the tag's name or the lower-cased field name; "-" skips; ",inline"
// flattens a struct (or pointer to one) or marks the map that takes the remaining keys.
func collectFields(t reflect.Type, prefix []int, info *structInfo, visiting map[reflect.Type]bool) {
	if visiting[t] {
		return
	}
	visiting[t] = true
	defer delete(visiting, t)
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		inline := false
		for _, o := range strings.Split(opts, ",") {
			if o == "inline" {
				inline = true
			}
		}
		index := append(append([]int(nil), prefix...), i)
		if inline {
			ft := f.Type
			switch {
			case ft.Kind() == reflect.Map && ft.Key().Kind() == reflect.String && info.inlineMap == nil && f.IsExported():
				info.inlineMap = index
			case ft.Kind() == reflect.Struct && (f.IsExported() || f.Anonymous):
				collectFields(ft, index, info, visiting)
			case ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Struct && f.IsExported():
				collectFields(ft.Elem(), index, info, visiting)
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		if _, dup := info.fields[name]; !dup {
			info.fields[name] = index
		}
	}
}

// fieldByIndexAlloc returns the field of struct v at index, allocating nil pointers to inline
// structs on the way.
func fieldByIndexAlloc(v reflect.Value, index []int) reflect.Value {
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v
}
