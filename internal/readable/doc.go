// Package readable turns an HTML page into what a language model should read: the page's main
// content (not its navigation, scripts and boilerplate) as Markdown or as plain text. It is
// shared by everything in mcphub that reads HTML: fetch_url, the browser's browser_extract and
// the knowledge server's HTML files.
//
// The API is three functions and one struct of options:
//
//	// The common cases: raw page bytes in, the page's title and its main content out.
//	title, md, err := readable.Markdown(page, baseURL)  // links and images absolute against baseURL
//	title, txt, err := readable.Text(page, baseURL)     // the same content as plain text
//
//	// Everything else (a Content-Type header with a charset, the whole page rather than the main
//	// content, tighter limits):
//	p, err := readable.Convert(page, readable.Options{BaseURL: u, ContentType: ct, Format: readable.FormatText})
//	// p.Title, p.Content, p.Extracted (main content found), p.Truncated (a limit cut it)
//
// baseURL may be nil: relative links then stay relative. A <base href> in the page, when it is
// http or https, takes precedence over baseURL, as in a browser.
//
// How it works, so that callers know what to expect:
//   - Encoding: the bytes are decoded to UTF-8 from a byte-order mark, else the charset of
//     Options.ContentType, else as UTF-8 when they are valid UTF-8 (so a browser's DOM
//     serialisation is never decoded twice), else from <meta charset>, else as windows-1252
//     (golang.org/x/net/html/charset).
//   - Main content: go-readability (Mozilla's Readability algorithm) picks the article; when it
//     finds nothing, or the page is too large for it, the whole <body> is converted instead
//     (Page.Extracted says which).
//   - Conversion: this package's own converter on golang.org/x/net/html: headings, paragraphs,
//     links, nested lists, code blocks with their language, inline code, emphasis, blockquotes,
//     GitHub tables (layout tables become plain blocks), images as ![alt](src); scripts, styles,
//     forms, navigation and hidden elements are dropped; whitespace is normalised.
//   - Bounded work on hostile input: the input size is capped (ErrTooLarge), the HTML parser
//     refuses nesting deeper than 512 elements (such pages fall back to a linear plain-text
//     scan), nested quotes and lists stop indenting past a fixed depth, and the output stops at
//     Options.MaxOutputBytes with Page.Truncated set.
//
// Plain text (FormatText) keeps the structure a reader needs (paragraph breaks, list bullets,
// table cells separated by " | ", code as is) and drops the Markdown syntax and link targets.
package readable
