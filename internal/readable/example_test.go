package readable_test

import (
	"fmt"
	"net/url"

	"github.com/mcphub/mcphub/internal/readable"
)

func ExampleMarkdown() {
	page := []byte(`<html><head><title>Notes</title></head><body>
<nav><a href="/">Home</a></nav>
<h2>Setup</h2><p>Run <code>make</code>, then read <a href="guide.html">the guide</a>.</p>
<ul><li>fast</li><li>small</li></ul></body></html>`)
	base, _ := url.Parse("https://example.com/docs/")
	title, md, err := readable.Markdown(page, base)
	if err != nil {
		panic(err)
	}
	fmt.Println(title)
	fmt.Println(md)
	// Output:
	// Notes
	// ## Setup
	//
	// Run `make`, then read [the guide](https://example.com/docs/guide.html).
	//
	// - fast
	// - small
}
