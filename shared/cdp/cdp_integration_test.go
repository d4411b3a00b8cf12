//go:build integration

package cdp_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openagents/trust/shared/cdp"
)

// MustBrowser launches headless Chromium for the test, or skips it when the
// browser is not installed.
func MustBrowser(tb testing.TB) *cdp.Browser {
	tb.Helper()
	if _, err := os.Stat(cdp.DefaultPath); err != nil {
		tb.Skipf("no Chromium at %s (apt-get install -y chromium): %v", cdp.DefaultPath, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := cdp.Launch(ctx, cdp.DefaultPath, tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { b.Close() })
	return b
}

// TestIntegrationPage drives a form on a loopback server: navigate, fill,
// submit, read the result and take a screenshot.
func TestIntegrationPage(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if r.URL.Path == "/export.csv" {
			w.Header().Set("Content-Disposition", `attachment; filename="export.csv"`)
			fmt.Fprint(w, "a,b\n1,2\n")
			return
		}
		if r.Method == http.MethodPost {
			fmt.Fprintf(w, "<title>done</title><p id=out>got %d bytes</p><a id=dl href=/export.csv download>export</a>", len(r.FormValue("q")))
			return
		}
		fmt.Fprint(w, `<title>form</title><form method=post><input name=q><button id=go>Go</button></form>`)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := MustBrowser(t).NewPage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Navigate(ctx, srv.URL); err != nil {
		t.Fatal(err)
	}
	if err := p.SetValue(ctx, "input[name=q]", "hello"); err != nil {
		t.Fatal(err)
	}
	if err := p.Click(ctx, "#go"); err != nil {
		t.Fatal(err)
	}
	text, err := p.Text(ctx)
	if err != nil || !strings.Contains(text, "got 5 bytes") {
		t.Fatalf("page text %q, %v", text, err)
	}
	if err := p.Click(ctx, "#absent"); err == nil {
		t.Fatal("click on an absent element: no error")
	}
	dir := t.TempDir()
	got, err := p.Download(ctx, dir, func() error { return p.Eval(ctx, `document.querySelector("#dl").click()`, nil) })
	if err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(got); err != nil || filepath.Base(got) != "export.csv" || string(data) != "a,b\n1,2\n" {
		t.Fatalf("download %s: %q, %v", got, data, err)
	}
	file := filepath.Join(t.TempDir(), "form.png")
	if err := p.Screenshot(ctx, file); err != nil {
		t.Fatal(err)
	}
	if png, err := os.ReadFile(file); err != nil || !strings.HasPrefix(string(png), "\x89PNG") {
		t.Fatalf("screenshot is no PNG: %v", err)
	}
}
