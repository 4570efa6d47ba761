package configs

import (
	"errors"
	"fmt"
)

// Problem is one configuration error at a dotted path such as servers.sql.sources[0].dsn.
// Problems from one load or validation are combined with errors.Join.
type Problem struct {
	// Path is the dotted path of the offending key, or empty when the problem concerns the
	// whole file.
	Path string
	// Msg says what is wrong and, where it helps, what to write instead.
	Msg string
}

// Error returns "path: msg", or msg alone when the path is empty.
func (p *Problem) Error() string {
	if p.Path == "" {
		return p.Msg
	}
	return p.Path + ": " + p.Msg
}

// maxProblems caps the problems kept from one load so that a pathological file yields a
// readable report rather than millions of lines.
const maxProblems = 100

// problemList collects problems in the order they are found.
type problemList struct {
	list    []*Problem
	dropped int
	// quiet holds paths already reported for a reason that makes any later problem there
	// noise, such as a value whose environment reference could not be expanded.
	quiet map[string]bool
}

func (l *problemList) add(path, format string, args ...any) {
	if l.quiet[path] {
		return
	}
	if len(l.list) >= maxProblems {
		l.dropped++
		return
	}
	l.list = append(l.list, &Problem{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// quieten drops every later problem at path.
func (l *problemList) quieten(path string) {
	if l.quiet == nil {
		l.quiet = map[string]bool{}
	}
	l.quiet[path] = true
}

// err returns the problems joined, or nil when there are none.
func (l *problemList) err() error {
	if len(l.list) == 0 {
		return nil
	}
	errs := make([]error, 0, len(l.list)+1)
	for _, p := range l.list {
		errs = append(errs, p)
	}
	if l.dropped > 0 {
		noun := "problems"
		if l.dropped == 1 {
			noun = "problem"
		}
		errs = append(errs, &Problem{Msg: fmt.Sprintf("%d more %s not shown", l.dropped, noun)})
	}
	return errors.Join(errs...)
}
