package registry

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/mark3labs/mcp-go/mcp"
)

func TestApplyBudget(t *testing.T) {
	img := mcp.ImageContent{Type: "image", Data: strings.Repeat("A", 600), MIMEType: "image/png"}
	tests := []struct {
		name      string
		res       *mcp.CallToolResult
		budget    int
		wantCut   bool
		wantError bool
		wantText  []string
		maxBytes  int
	}{
		{"under budget", mcp.NewToolResultText("short"), 100, false, false, []string{"short"}, 100},
		{"exactly budget", mcp.NewToolResultText(strings.Repeat("a", 100)), 100, false, false, nil, 100},
		{"text over", mcp.NewToolResultText(strings.Repeat("a", 1000)), 100, true, false,
			[]string{"showed 100 of 1000 bytes", "to get the rest"}, 100 + 300},
		{"utf8 boundary", mcp.NewToolResultText(strings.Repeat("é", 100)), 101, true, false, []string{"showed 100 of 200"}, 101 + 300},
		{"image dropped", &mcp.CallToolResult{Content: []mcp.Content{mcp.NewTextContent("caption"), img}}, 100, true, false,
			[]string{"caption", "1 of 2 content items left out"}, 100 + 300},
		{"structured over", mcp.NewToolResultStructured(map[string]any{"rows": strings.Repeat("x", 500)}, "ok"), 100, true, true,
			[]string{"structured content", "output budget of 100 bytes"}, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			content, structured := resultSize(tt.res)
			out, cut := applyBudget(tt.res, content, structured, tt.budget, "")
			if cut != tt.wantCut || out.IsError != tt.wantError {
				t.Fatalf("cut=%v isError=%v, want %v %v", cut, out.IsError, tt.wantCut, tt.wantError)
			}
			got := text(out)
			for _, w := range tt.wantText {
				if !strings.Contains(got, w) {
					t.Errorf("text %q lacks %q", got, w)
				}
			}
			if size, _ := resultSize(out); size > tt.maxBytes {
				t.Errorf("result has %d bytes, want at most %d", size, tt.maxBytes)
			}
			if !utf8.ValidString(got) {
				t.Error("cut inside a rune")
			}
		})
	}
}

func FuzzApplyBudget(f *testing.F) {
	f.Add("hello world", "second", 5)
	f.Add("ééééé", "", 3)
	f.Add("", "x", 0)
	f.Fuzz(func(t *testing.T, a, b string, budget int) {
		if budget < 0 || budget > 1<<20 {
			return
		}
		res := &mcp.CallToolResult{Content: []mcp.Content{mcp.NewTextContent(a), mcp.NewTextContent(b)}}
		out, cut := applyBudget(res, len(a)+len(b), 0, budget, "hint")
		content, _ := resultSize(out)
		if !cut {
			if content != len(a)+len(b) {
				t.Fatalf("uncut result changed size")
			}
			return
		}
		// The payload kept is within the budget; the note adds a bounded amount.
		if content > budget+400 {
			t.Fatalf("content %d for budget %d", content, budget)
		}
		for _, c := range out.Content {
			if s, _ := textOf(c); utf8.ValidString(a) && utf8.ValidString(b) && !utf8.ValidString(s) {
				t.Fatalf("invalid UTF-8 produced from valid input: %q", s)
			}
		}
	})
}
