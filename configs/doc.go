// Package configs holds mcphub's configuration: the types, a strict YAML loader that expands
// ${VAR} references from the environment, and the semantic checks behind `mcphub validate`.
//
// Decoding is strict everywhere: an unknown key, a value of the wrong type, a duplicate key or
// a second YAML document is an error, reported with its dotted path (for example
// "http.max_body_bytes: cannot use "abc" as an integer"). All problems of one load are
// collected and returned together with errors.Join, each one a *Problem.
//
// Defaults are written in one place, Default, and in the doc comment of each field. A key that
// is absent or null keeps its default. Anchors, aliases and merge keys (<<) work as in YAML.
//
// # Environment references
//
// After the YAML is parsed, every scalar value (never a key, never the raw text, so a variable
// cannot inject YAML) has ${NAME} replaced by the variable's value and ${NAME:-default} by the
// value or, when it is unset or empty, by default. "$$" stands for a literal "$"; a "$" that
// is not followed by "{" or "$" stays as it is. An unset variable without a default is a
// problem at the path of the value that names it. A value that held a reference is typed
// again from its new text, quoted or not, so `max_body_bytes: "${MAX_BODY}"` yields an
// integer. In flow style ({a: b}) quote a reference: a bare "{" there starts a mapping.
//
// # Adding a server's section
//
// Each entry under servers: is a *ServerSection. This package reads only its `enabled` key and
// keeps every other key undecoded, so that the server owning the section decodes it strictly
// into its own type. A server:
//
//  1. defines a struct for its section with snake_case yaml tags, where every field has a
//     full-sentence doc comment that states its default;
//  2. fills a value of it with its defaults and calls section.Decode(&value) in its decode
//     step, which reports unknown keys and type errors with full paths such as
//     "servers.sql.sources[0].dsn";
//  3. checks the decoded values itself and reports problems as *Problem with the same paths;
//  4. documents its keys, commented out until it exists, under servers: in
//     mcphub.example.yaml.
//
// Decoding follows the rules of go.yaml.in/yaml/v3: a field's key is its yaml tag name or its
// lower-cased Go name; an embedded struct is inlined only when tagged `yaml:",inline"`; a
// type implementing yaml.Unmarshaler decodes itself.
package configs
