package codesandbox

import (
	"bytes"
	"testing"

	"github.com/mcphub/mcphub/sandbox"
)

// BenchmarkFormatExec formats the result of a run that filled both streams to the capture limit
// (1 MiB each): the cost the hub adds to the largest results.
func BenchmarkFormatExec(b *testing.B) {
	out := bytes.Repeat([]byte("line of output with \"quotes\"\n"), (1<<20)/30)
	r := &sandbox.Result{Stdout: out, Stderr: out, StdoutDropped: 5 << 20}
	p := formatParams{budget: defaultResultBudget}
	for b.Loop() {
		formatExec(r, nil, p)
	}
}
