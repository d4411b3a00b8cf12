//go:build integration

package e2e_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openagents/trust/shared/cdp"
)

// browserTimeout bounds a whole browser test, so a hung browser fails the
// test instead of the run; it never decides a pass.
const browserTimeout = 3 * time.Minute

// MustPage launches headless Chromium and opens a tab, or skips the test
// when the browser is not installed.
func MustPage(tb testing.TB) (context.Context, *cdp.Page) {
	tb.Helper()
	if _, err := os.Stat(cdp.DefaultPath); err != nil {
		tb.Skipf("no Chromium at %s: apt-get install -y chromium (%v)", cdp.DefaultPath, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	tb.Cleanup(cancel)
	b, err := cdp.Launch(ctx, cdp.DefaultPath, tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { b.Close() })
	p, err := b.NewPage(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { p.Close() })
	return ctx, p
}

// OutputDir is where a test saves screenshots and exports.
func OutputDir(tb testing.TB) string {
	tb.Helper()
	root := os.Getenv("TRUST_TEST_OUTPUT")
	if root == "" {
		return tb.TempDir()
	}
	dir := filepath.Join(root, strings.NewReplacer("/", "_", " ", "_").Replace(tb.Name()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	tb.Logf("screenshots in %s", dir)
	return dir
}

// MustScreenshot saves a screenshot of the page as name.png.
func MustScreenshot(tb testing.TB, ctx context.Context, p *cdp.Page, dir, name string) {
	tb.Helper()
	if err := p.Screenshot(ctx, filepath.Join(dir, name+".png")); err != nil {
		tb.Fatal(err)
	}
}

// MustText returns the page's visible text.
func MustText(tb testing.TB, ctx context.Context, p *cdp.Page) string {
	tb.Helper()
	s, err := p.Text(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// WantNoScript checks that hostile markup did not become live: no script
// element on the page and none of the planted payloads ran.
func WantNoScript(tb testing.TB, ctx context.Context, p *cdp.Page) {
	tb.Helper()
	var res struct {
		Scripts, Images int
		Pwned           bool
	}
	if err := p.Eval(ctx, `({Scripts: document.scripts.length, Images: document.images.length, Pwned: window.__pwned !== undefined})`, &res); err != nil {
		tb.Fatal(err)
	}
	if res.Scripts != 0 || res.Images != 0 || res.Pwned {
		tb.Fatalf("hostile markup went live: %+v", res)
	}
}

// MustDownload clicks a download link, as a user would, and returns the
// saved file's content.
func MustDownload(tb testing.TB, ctx context.Context, p *cdp.Page, dir, selector string) string {
	tb.Helper()
	file, err := p.Download(ctx, dir, func() error {
		return p.Eval(ctx, `document.querySelector(`+jsString(selector)+`).click()`, nil)
	})
	if err != nil {
		tb.Fatal(err)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Logf("downloaded %s", file)
	return string(data)
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}
