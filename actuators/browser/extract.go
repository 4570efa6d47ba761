package browser

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/mcphub/mcphub/internal/readable"
)

// extractJS turns the page's main content into Markdown inside the page, where the rendered
// DOM (after scripts ran, shadow roots included) is at hand. The main content is <main>, else
// <article>, else <body>; navigation, scripts, styles, forms' chrome and hidden elements are
// left out. The output is capped at limit characters.
const extractJS = `(limit) => {
  const root = document.querySelector('main, [role=main]') || document.querySelector('article') || document.body;
  if (!root) return {title: document.title, md: ''};
  const skip = new Set(['SCRIPT','STYLE','NOSCRIPT','TEMPLATE','SVG','CANVAS','IFRAME','NAV','HEADER','FOOTER','ASIDE','BUTTON','SELECT','OPTION','INPUT','TEXTAREA']);
  let out = []; let size = 0; let cut = false;
  const push = (s) => { if (cut) return; if (size + s.length > limit) { s = s.slice(0, Math.max(0, limit - size)); cut = true; } out.push(s); size += s.length; };
  const abs = (u) => { try { return new URL(u, document.baseURI).href; } catch (e) { return u; } };
  const inline = (n) => {
    let s = '';
    for (const c of n.childNodes) {
      if (c.nodeType === 3) { s += c.nodeValue.replace(/\s+/g, ' '); continue; }
      if (c.nodeType !== 1 || skip.has(c.tagName)) continue;
      const st = getComputedStyle(c); if (st.display === 'none' || st.visibility === 'hidden') continue;
      const t = c.tagName;
      if (t === 'A' && c.getAttribute('href')) { const txt = inline(c).trim(); s += txt ? '[' + txt + '](' + abs(c.getAttribute('href')) + ')' : ''; }
      else if (t === 'STRONG' || t === 'B') { const x = inline(c).trim(); s += x ? '**' + x + '**' : ''; }
      else if (t === 'EM' || t === 'I') { const x = inline(c).trim(); s += x ? '*' + x + '*' : ''; }
      else if (t === 'CODE') s += '` + "`" + `' + c.textContent + '` + "`" + `';
      else if (t === 'IMG') { const a = c.getAttribute('alt'); if (a) s += '![' + a + '](' + abs(c.getAttribute('src') || '') + ')'; }
      else if (t === 'BR') s += '\n';
      else s += inline(c);
    }
    return s;
  };
  const block = (n, depth) => {
    for (const c of (n.shadowRoot ? [...n.shadowRoot.childNodes, ...n.childNodes] : n.childNodes)) {
      if (cut) return;
      if (c.nodeType === 3) { const t = c.nodeValue.trim(); if (t) push(t.replace(/\s+/g, ' ') + '\n\n'); continue; }
      if (c.nodeType !== 1 || skip.has(c.tagName)) continue;
      const st = getComputedStyle(c); if (st.display === 'none' || st.visibility === 'hidden') continue;
      const t = c.tagName;
      if (/^H[1-6]$/.test(t)) { const x = inline(c).trim(); if (x) push('#'.repeat(+t[1]) + ' ' + x + '\n\n'); }
      else if (t === 'P') { const x = inline(c).trim(); if (x) push(x + '\n\n'); }
      else if (t === 'PRE') push('` + "```" + `\n' + c.textContent.replace(/\n$/, '') + '\n` + "```" + `\n\n');
      else if (t === 'UL' || t === 'OL') {
        let i = 1;
        for (const li of c.children) { if (li.tagName !== 'LI') continue; push('  '.repeat(depth) + (t === 'OL' ? (i++) + '. ' : '- ') + inline(li).trim() + '\n'); }
        push('\n');
      }
      else if (t === 'BLOCKQUOTE') { const x = inline(c).trim(); if (x) push('> ' + x + '\n\n'); }
      else if (t === 'TABLE') {
        const rows = [...c.rows].map(r => [...r.cells].map(td => inline(td).trim().replace(/\|/g, '\\|')));
        if (rows.length) { push('| ' + rows[0].join(' | ') + ' |\n|' + rows[0].map(() => ' --- |').join('') + '\n'); for (const r of rows.slice(1)) push('| ' + r.join(' | ') + ' |\n'); push('\n'); }
      }
      else if (t === 'HR') push('---\n\n');
      else if (t === 'IMG' || t === 'A' || t === 'SPAN' || t === 'STRONG' || t === 'EM' || t === 'CODE' || t === 'B' || t === 'I') { const x = inline({childNodes: [c]}).trim(); if (x) push(x + '\n\n'); }
      else block(c, depth);
    }
  };
  block(root, 0);
  return {title: document.title, md: out.join('').replace(/\n{3,}/g, '\n\n').trim(), cut};
}`

// extractLimit bounds the Markdown one extraction produces before paging.
const extractLimit = 2 << 20

type extracted struct {
	Title string `json:"title"`
	MD    string `json:"md"`
	Cut   bool   `json:"cut"`
}

// maxExtractHTML bounds the rendered HTML handed to internal/readable; a larger page is
// converted in the page instead.
const maxExtractHTML = 16 << 20

// extract returns the page's main content as Markdown: the rendered DOM (after scripts ran)
// through internal/readable, the converter fetch_url uses too (Readability's main-content
// extraction). When that finds nothing (content in shadow roots, which serialised HTML lacks)
// or the page is too large, the page converts itself (extractJS).
func (t *tab) extract(ctx context.Context) (extracted, error) {
	cctx := t.callCtx(ctx)
	res, err := chromedp.Call(cctx, runtime.Evaluate, runtime.EvaluateParams{
		Expression: fmt.Sprintf("(() => { const h = document.documentElement ? document.documentElement.outerHTML : ''; "+
			"return [h.length > %d ? '' : h, document.baseURI, document.title]; })()", maxExtractHTML),
		ReturnByValue: ptr(true),
	})
	if err == nil && res.ExceptionDetails == nil && res.Result != nil {
		var v [3]string
		if json.Unmarshal(res.Result.Value, &v) == nil && v[0] != "" {
			base, _ := url.Parse(v[1])
			p, err := readable.Convert([]byte(v[0]), readable.Options{
				BaseURL: base, ContentType: "text/html; charset=utf-8", MaxInputBytes: maxExtractHTML * 4, MaxOutputBytes: extractLimit,
			})
			if err == nil && strings.TrimSpace(p.Content) != "" {
				title := p.Title
				if title == "" {
					title = v[2]
				}
				return extracted{Title: title, MD: p.Content, Cut: p.Truncated}, nil
			}
		}
	}
	return t.extractInPage(ctx)
}

// extractInPage converts the page's main content inside the page.
func (t *tab) extractInPage(ctx context.Context) (extracted, error) {
	res, err := chromedp.Call(t.callCtx(ctx), runtime.Evaluate, runtime.EvaluateParams{
		Expression: "(" + extractJS + ")(" + fmt.Sprint(extractLimit) + ")", ReturnByValue: ptr(true),
	})
	if err != nil {
		return extracted{}, fmt.Errorf("extracting: %w", err)
	}
	if res.ExceptionDetails != nil {
		return extracted{}, fmt.Errorf("extracting: %s", exceptionText(res.ExceptionDetails))
	}
	var out extracted
	if res.Result != nil {
		if err := json.Unmarshal(res.Result.Value, &out); err != nil {
			return extracted{}, fmt.Errorf("decoding the extraction: %w", err)
		}
	}
	return out, nil
}
