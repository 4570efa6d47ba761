package configs

import (
	"fmt"
	"reflect"
	"sort"

	"go.yaml.in/yaml/v3"
)

// ServerSection is one entry under servers:. This package reads its enabled key; every other
// key is kept undecoded for the server that owns the section to decode strictly with Decode.
type ServerSection struct {
	// Enabled turns the server on or off. When it is nil (the key is absent) the server's own
	// default applies.
	Enabled *bool `yaml:"enabled"`

	path string                  // "servers.<name>", the prefix of every problem's path
	rest *yaml.Node              // mapping of the keys besides enabled, already expanded; nil when none
	env  map[*yaml.Node]envState // what environment expansion did to the nodes under rest
}

var _ pathDecoder = (*ServerSection)(nil)

// NewServerSection returns the section of server name holding only enabled, for code that
// enables a server without a config file, such as the --servers flag.
func NewServerSection(name string, enabled *bool) *ServerSection {
	return &ServerSection{Enabled: enabled, path: joinKey("servers", name)}
}

// decodeYAML reads enabled and keeps the other keys of n for Decode.
func (s *ServerSection) decodeYAML(d *decoder, n *yaml.Node, path string) {
	s.path, s.env, s.rest = path, d.env, nil
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.add(path, "must be a mapping such as {enabled: true}, got %s", d.describe(n))
		return
	}
	rest := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: n.Line, Column: n.Column}
	for _, p := range d.pairs(n, path) {
		if p.key.Value == "enabled" {
			d.decode(p.val, reflect.ValueOf(&s.Enabled).Elem(), joinKey(path, "enabled"))
			continue
		}
		rest.Content = append(rest.Content, p.key, p.val)
	}
	if len(rest.Content) > 0 {
		s.rest = rest
	}
}

// Decode decodes the section's keys besides enabled into v, a non-nil pointer, usually to the
// server's config struct already filled with its defaults: keys that are absent keep them.
// Decoding is strict: an unknown key or a value of the wrong type is a *Problem whose path
// starts with the section's, such as "servers.sql.sources[0].dsn"; all problems are returned
// joined. Environment references were expanded when the file was parsed. A nil section, or
// one with no keys besides enabled, decodes nothing and returns nil.
func (s *ServerSection) Decode(v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("decoding a server section: need a non-nil pointer, got %T", v)
	}
	if s == nil || s.rest == nil {
		return nil
	}
	d := newDecoder(s.env)
	d.decode(s.rest, rv.Elem(), s.path)
	return d.err()
}

// Keys returns the section's keys besides enabled, sorted.
func (s *ServerSection) Keys() []string {
	if s == nil || s.rest == nil {
		return nil
	}
	keys := make([]string, 0, len(s.rest.Content)/2)
	for i := 0; i+1 < len(s.rest.Content); i += 2 {
		keys = append(keys, s.rest.Content[i].Value)
	}
	sort.Strings(keys)
	return keys
}
