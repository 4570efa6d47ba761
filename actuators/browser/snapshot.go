package browser

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// The snapshot is the page's accessibility tree as indented lines, one element a line:
//
//	- heading "Sign in" [level=1] [ref=e12]
//	- textbox "Email" [required] [ref=e15]: alice@example.com
//
// Refs are "e" and the element's DevTools backend node id: stable for as long as the element
// exists, across snapshots and actions, with no state kept by the hub. Elements of same-process
// iframes appear under their iframe; shadow DOM is part of the tree already.

// maxSnapshotNameBytes bounds one element's name in the snapshot.
const maxSnapshotNameBytes = 200

// maxSnapshotFrames bounds the iframes a snapshot descends into.
const maxSnapshotFrames = 32

// snapshotLines returns the current tab's snapshot, one element a line.
func (t *tab) snapshotLines(ctx context.Context) ([]string, error) {
	cctx := t.callCtx(ctx)
	main, err := chromedp.Call(cctx, accessibility.GetFullAXTree, accessibility.GetFullAXTreeParams{})
	if err != nil {
		return nil, fmt.Errorf("reading the accessibility tree: %w", err)
	}
	// Same-process iframes have trees of their own; find which iframe element owns each.
	frames := map[cdp.BackendNodeID][]*accessibility.Node{}
	if ft, err := chromedp.Call(cctx, page.GetFrameTree, cdp.Empty{}); err == nil && ft.FrameTree != nil {
		var children []*page.FrameTree
		var walk func(*page.FrameTree)
		walk = func(n *page.FrameTree) {
			for _, c := range n.ChildFrames {
				if len(children) < maxSnapshotFrames {
					children = append(children, c)
					walk(c)
				}
			}
		}
		walk(ft.FrameTree)
		for _, c := range children {
			owner, err := chromedp.Call(cctx, dom.GetFrameOwner, dom.GetFrameOwnerParams{FrameID: c.Frame.ID})
			if err != nil || owner.BackendNodeID == 0 {
				continue
			}
			tree, err := chromedp.Call(cctx, accessibility.GetFullAXTree, accessibility.GetFullAXTreeParams{FrameID: c.Frame.ID})
			if err != nil { // a cross-process iframe: its tree lives in another target
				continue
			}
			frames[owner.BackendNodeID] = tree.Nodes
		}
	}
	r := &axRenderer{frames: frames, seenFrames: map[cdp.BackendNodeID]bool{}}
	r.renderTree(main.Nodes, 0)
	return r.lines, nil
}

type axRenderer struct {
	lines      []string
	frames     map[cdp.BackendNodeID][]*accessibility.Node
	seenFrames map[cdp.BackendNodeID]bool
}

// renderTree renders one frame's nodes at the given depth.
func (r *axRenderer) renderTree(nodes []*accessibility.Node, depth int) {
	if len(nodes) == 0 {
		return
	}
	byID := make(map[accessibility.NodeID]*accessibility.Node, len(nodes))
	for _, n := range nodes {
		byID[n.NodeID] = n
	}
	root := nodes[0]
	for _, n := range nodes {
		if n.ParentID == "" {
			root = n
			break
		}
	}
	r.render(root, byID, depth, "", nil)
}

// Roles that are structure only: their children are shown in their place.
var transparentRoles = map[string]bool{
	"none": true, "generic": true, "GenericContainer": true, "presentation": true, "LineBreak": true,
	"InlineTextBox": true, "LayoutTable": true, "LayoutTableRow": true, "LayoutTableCell": true,
	"LabelText": true, "MenuListPopup": true,
}

// Roles left out with their subtree: decoration that only repeats what is around it.
var droppedRoles = map[string]bool{"ListMarker": true}

// Properties worth showing, in this order.
var shownProperties = []string{"level", "checked", "pressed", "selected", "expanded", "disabled", "required", "readonly", "invalid", "focused", "url"}

// render renders n and its subtree. parentName holds the enclosing element's name and value,
// and siblings the names of the elements beside n: text that only repeats them (a label's
// text next to its field, a link's own text) is left out.
func (r *axRenderer) render(n *accessibility.Node, byID map[accessibility.NodeID]*accessibility.Node, depth int, parentName string, siblings map[string]bool) {
	if depth > 200 {
		return
	}
	role := axString(n.Role)
	if droppedRoles[role] {
		return
	}
	name := collapse(axString(n.Name))
	children := func(d int, pname string, transparent bool) {
		names := map[string]bool{}
		// n's children stand in n's place, beside n's siblings (bounded: a wide page must not
		// copy a large set once per child).
		if transparent && len(siblings) <= 64 {
			for k := range siblings {
				names[k] = true
			}
		}
		for _, id := range n.ChildIDs {
			if c := byID[id]; c != nil && axString(c.Role) != "StaticText" {
				if cn := collapse(axString(c.Name)); cn != "" {
					names[cn] = true
				}
			}
		}
		for _, id := range n.ChildIDs {
			if c := byID[id]; c != nil {
				r.render(c, byID, d, pname, names)
			}
		}
		if sub, ok := r.frames[n.BackendDOMNodeID]; ok && !r.seenFrames[n.BackendDOMNodeID] {
			r.seenFrames[n.BackendDOMNodeID] = true
			r.renderTree(sub, d)
		}
	}
	if n.Ignored || role == "RootWebArea" || (transparentRoles[role] && name == "") {
		children(depth, parentName, true)
		return
	}
	if role == "StaticText" {
		if name != "" && !siblings[name] && !strings.Contains(parentName, name) {
			r.lines = append(r.lines, strings.Repeat("  ", depth)+"- text: "+quoteTrunc(name))
		}
		return
	}
	var b strings.Builder
	b.WriteString(strings.Repeat("  ", depth))
	b.WriteString("- ")
	b.WriteString(role)
	if name != "" {
		b.WriteString(" ")
		b.WriteString(quoteTrunc(name))
	}
	props := map[string]string{}
	for _, p := range n.Properties {
		if p == nil || p.Value == nil {
			continue
		}
		props[string(p.Name)] = rawString(p.Value.Value)
	}
	for _, k := range shownProperties {
		v, ok := props[k]
		if !ok || v == "false" || v == "" {
			continue
		}
		switch {
		case k == "level" && role != "heading":
			continue
		case k == "url":
			b.WriteString(" [url=" + truncate(v, 200) + "]")
		case v == "true":
			b.WriteString(" [" + k + "]")
		default:
			b.WriteString(" [" + k + "=" + truncate(v, 40) + "]")
		}
	}
	if n.BackendDOMNodeID != 0 {
		b.WriteString(" [ref=e" + strconv.FormatInt(int64(n.BackendDOMNodeID), 10) + "]")
	}
	v := collapse(axString(n.Value))
	if v != "" && v != name {
		b.WriteString(": " + quoteTrunc(v))
	}
	r.lines = append(r.lines, b.String())
	children(depth+1, name+"\x00"+v, false)
}

func axString(v *accessibility.Value) string {
	if v == nil {
		return ""
	}
	return rawString(v.Value)
}

// rawString renders a JSON value: strings unquoted, anything else as written.
func rawString(raw []byte) string {
	if len(raw) == 0 {
		return ""
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	}
	return string(raw)
}

// collapse normalises whitespace.
func collapse(s string) string { return strings.Join(strings.Fields(s), " ") }

func quoteTrunc(s string) string { return strconv.Quote(truncate(s, maxSnapshotNameBytes)) }

// page of lines that fits budget bytes, from offset; next is -1 at the end.
func pageLines(lines []string, offset, budget int) (text string, next int) {
	if offset < 0 {
		offset = 0
	}
	var b strings.Builder
	i := offset
	for ; i < len(lines); i++ {
		if b.Len()+len(lines[i])+1 > budget && i > offset {
			break
		}
		line := lines[i]
		if len(line) > budget {
			line = truncate(line, budget)
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	if i >= len(lines) {
		return b.String(), -1
	}
	return b.String(), i
}

// parseRef turns "e123" into a backend node id.
func parseRef(ref string) (cdp.BackendNodeID, error) {
	s, ok := strings.CutPrefix(strings.TrimSpace(ref), "e")
	n, err := strconv.ParseInt(s, 10, 64)
	if !ok || err != nil || n <= 0 {
		return 0, fmt.Errorf("ref %q is not an element ref: use a ref such as e12 from browser_snapshot", truncate(ref, 40))
	}
	return cdp.BackendNodeID(n), nil
}
