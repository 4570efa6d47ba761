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
}

func (l *problemList) add(path, format string, args ...any) {
	if len(l.list) >= maxProblems {
		l.dropped++
		return
	}
	l.list = append(l.list, &Problem{Path: path, Msg: fmt.Sprintf(format, args...)})
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
		errs = append(errs, &Problem{Msg: fmt.Sprintf("%d more problems not shown", l.dropped)})
	}
	return errors.Join(errs...)
}
