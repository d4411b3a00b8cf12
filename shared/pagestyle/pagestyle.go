// Package pagestyle is the stylesheet the server-rendered pages share (the
// Agent status page at the edge, the review queue in the functions) and the
// Content-Security-Policy that allows it: the stylesheet is inlined in every
// page and allowed by its hash, so the policy needs no 'unsafe-inline', and
// nothing else — no script, no font, no other origin — may load.
package pagestyle

import (
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"html/template"
)

//go:embed page.css
var css []byte

// CSS is the stylesheet, for a template's <style> element.
var CSS = template.CSS(css)

// CSP is the Content-Security-Policy header value of every page.
var CSP = func() string {
	sum := sha256.Sum256(css)
	return "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) +
		"'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
}()
