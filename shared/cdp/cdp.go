// Package cdp is a tiny client of the Chrome DevTools Protocol, enough to
// drive headless Chromium from Go tests: launch the browser, open a page,
// navigate, run JavaScript, wait for a page load or a download, and take a
// screenshot. It
// speaks the protocol over its own minimal WebSocket client (websocket.go)
// and imports nothing outside the standard library.
//
//	b, err := cdp.Launch(ctx, cdp.DefaultPath, t.TempDir())
//	p, err := b.NewPage(ctx)
//	err = p.Navigate(ctx, url)
//	err = p.Eval(ctx, `document.title`, &title)
//
// The browser runs with the flags of Flags: headless, no sandbox (tests run
// as root in containers), no GPU, no background networking.
package cdp

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultPath is where Debian's chromium package installs the browser.
const DefaultPath = "/usr/bin/chromium"

// Flags are the command-line flags every browser is started with.
var Flags = []string{
	"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
	"--no-first-run", "--no-default-browser-check", "--disable-extensions",
	"--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
	"--window-size=1280,900",
}

// Browser is a running Chromium.
type Browser struct {
	cmd     *exec.Cmd
	httpURL string // http://127.0.0.1:port
	done    chan struct{}
}

// Launch starts Chromium at path with a fresh profile under dir and waits
// until its DevTools endpoint is listening (or ctx ends).
func Launch(ctx context.Context, path, dir string) (*Browser, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("cdp: no browser at %s: %w", path, err)
	}
	args := append(append([]string{}, Flags...), "--user-data-dir="+dir, "about:blank")
	cmd := exec.Command(path, args...)
	// Its own process group, so Close ends the helper processes too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("cdp: start %s: %w", path, err)
	}
	b := &Browser{cmd: cmd, done: make(chan struct{})}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if i := strings.Index(sc.Text(), "DevTools listening on ws://"); i >= 0 {
				select {
				case found <- sc.Text()[i+len("DevTools listening on "):]:
				default:
				}
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	go func() { cmd.Wait(); close(b.done) }()
	select {
	case ws := <-found:
		// ws://127.0.0.1:port/devtools/browser/<id>
		rest := strings.TrimPrefix(ws, "ws://")
		b.httpURL = "http://" + rest[:strings.Index(rest, "/")]
		return b, nil
	case <-b.done:
		return nil, errors.New("cdp: browser exited before its DevTools endpoint listened")
	case <-ctx.Done():
		b.Close()
		return nil, fmt.Errorf("cdp: waiting for the browser: %w", ctx.Err())
	}
}

// Close stops the browser and its helper processes (its process group,
// which Launch created) and waits for the browser.
func (b *Browser) Close() error {
	if p := b.cmd.Process; p != nil {
		syscall.Kill(-p.Pid, syscall.SIGKILL)
	}
	<-b.done
	return nil
}

// NewPage opens a new tab on about:blank and connects to it.
func (b *Browser) NewPage(ctx context.Context) (*Page, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, b.httpURL+"/json/new?about:blank", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cdp: new tab: %w", err)
	}
	defer resp.Body.Close()
	var target struct {
		WebSocketDebuggerURL string `json:"webSocketDebuggerUrl"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&target); err != nil || target.WebSocketDebuggerURL == "" {
		return nil, fmt.Errorf("cdp: new tab: %s: no debugger URL (%v)", resp.Status, err)
	}
	ws, err := dialWS(target.WebSocketDebuggerURL)
	if err != nil {
		return nil, err
	}
	p := &Page{ws: ws, pending: map[int64]chan reply{}, closed: make(chan struct{})}
	go p.readLoop()
	for _, domain := range []string{"Page.enable", "Runtime.enable"} {
		if err := p.Call(ctx, domain, nil, nil); err != nil {
			p.Close()
			return nil, err
		}
	}
	return p, nil
}

// Page is one browser tab.
type Page struct {
	ws *wsConn

	mu      sync.Mutex
	nextID  int64
	pending map[int64]chan reply
	subs    []*subscription
	closed  chan struct{}
	err     error
}

type reply struct {
	Result json.RawMessage
	Err    error
}

type subscription struct {
	method string
	ch     chan json.RawMessage
}

// message is any message of the protocol: a reply (ID set) or an event.
type message struct {
	ID     int64           `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func (p *Page) readLoop() {
	defer close(p.closed)
	for {
		data, err := p.ws.ReadMessage()
		if err != nil {
			p.mu.Lock()
			p.err = fmt.Errorf("cdp: connection closed: %w", err)
			for id, ch := range p.pending {
				ch <- reply{Err: p.err}
				delete(p.pending, id)
			}
			p.mu.Unlock()
			return
		}
		var m message
		if json.Unmarshal(data, &m) != nil {
			continue
		}
		p.mu.Lock()
		if m.ID != 0 {
			if ch, ok := p.pending[m.ID]; ok {
				delete(p.pending, m.ID)
				r := reply{Result: m.Result}
				if m.Error != nil {
					r.Err = fmt.Errorf("cdp: %s (%d)", m.Error.Message, m.Error.Code)
				}
				ch <- r
			}
		} else {
			for _, s := range p.subs {
				if s.method == m.Method {
					select {
					case s.ch <- m.Params:
					default: // a subscriber that stopped listening loses events
					}
				}
			}
		}
		p.mu.Unlock()
	}
}

// Call sends a command and decodes its result into out (when not nil).
func (p *Page) Call(ctx context.Context, method string, params, out any) error {
	if params == nil {
		params = struct{}{}
	}
	p.mu.Lock()
	if p.err != nil {
		p.mu.Unlock()
		return p.err
	}
	p.nextID++
	id := p.nextID
	ch := make(chan reply, 1)
	p.pending[id] = ch
	p.mu.Unlock()
	data, err := json.Marshal(map[string]any{"id": id, "method": method, "params": params})
	if err != nil {
		return err
	}
	if err := p.ws.WriteText(data); err != nil {
		return fmt.Errorf("cdp: send %s: %w", method, err)
	}
	select {
	case r := <-ch:
		if r.Err != nil {
			return fmt.Errorf("%s: %w", method, r.Err)
		}
		if out != nil {
			return json.Unmarshal(r.Result, out)
		}
		return nil
	case <-ctx.Done():
		p.mu.Lock()
		delete(p.pending, id)
		p.mu.Unlock()
		return fmt.Errorf("cdp: %s: %w", method, ctx.Err())
	}
}

// subscribe starts collecting the events named method; cancel stops it.
func (p *Page) subscribe(method string) (<-chan json.RawMessage, func()) {
	s := &subscription{method: method, ch: make(chan json.RawMessage, 256)}
	p.mu.Lock()
	p.subs = append(p.subs, s)
	p.mu.Unlock()
	return s.ch, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		for i, x := range p.subs {
			if x == s {
				p.subs = append(p.subs[:i], p.subs[i+1:]...)
				return
			}
		}
	}
}

// AndWait runs action and then waits for the page's next load event: use it
// for anything that navigates (a click on a link or a submit button).
func (p *Page) AndWait(ctx context.Context, action func() error) error {
	loaded, cancel := p.subscribe("Page.loadEventFired")
	defer cancel()
	if err := action(); err != nil {
		return err
	}
	select {
	case <-loaded:
		return nil
	case <-p.closed:
		return errors.New("cdp: page closed while loading")
	case <-ctx.Done():
		return fmt.Errorf("cdp: waiting for a page load: %w", ctx.Err())
	}
}

// Navigate loads url and waits for its load event. A network-level failure
// is an error; an HTTP error status is not (the page shows it).
func (p *Page) Navigate(ctx context.Context, url string) error {
	return p.AndWait(ctx, func() error {
		var res struct {
			ErrorText string `json:"errorText"`
		}
		if err := p.Call(ctx, "Page.navigate", map[string]any{"url": url}, &res); err != nil {
			return err
		} else if res.ErrorText != "" {
			return fmt.Errorf("cdp: navigate %s: %s", url, res.ErrorText)
		}
		return nil
	})
}

// Eval evaluates a JavaScript expression in the page, awaiting a promise,
// and decodes its value (JSON-serializable) into out when not nil. A thrown
// exception is an error.
func (p *Page) Eval(ctx context.Context, expr string, out any) error {
	var res struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	if err := p.Call(ctx, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true}, &res); err != nil {
		return err
	}
	if e := res.ExceptionDetails; e != nil {
		return fmt.Errorf("cdp: javascript: %s %s", e.Text, e.Exception.Description)
	}
	if out != nil && len(res.Result.Value) > 0 {
		return json.Unmarshal(res.Result.Value, out)
	}
	return nil
}

// Click clicks the first element matching a CSS selector and waits for the
// page it navigates to. An absent element is an error.
func (p *Page) Click(ctx context.Context, selector string) error {
	sel, _ := json.Marshal(selector)
	return p.AndWait(ctx, func() error {
		var found bool
		if err := p.Eval(ctx, fmt.Sprintf(`(() => { const e = document.querySelector(%s); if (!e) return false; e.click(); return true })()`, sel), &found); err != nil {
			return err
		} else if !found {
			return fmt.Errorf("cdp: no element matches %s", selector)
		}
		return nil
	})
}

// SetValue sets the value of the first form field matching selector.
func (p *Page) SetValue(ctx context.Context, selector, value string) error {
	sel, _ := json.Marshal(selector)
	val, _ := json.Marshal(value)
	var found bool
	if err := p.Eval(ctx, fmt.Sprintf(`(() => { const e = document.querySelector(%s); if (!e) return false; e.value = %s; return true })()`, sel, val), &found); err != nil {
		return err
	} else if !found {
		return fmt.Errorf("cdp: no element matches %s", selector)
	}
	return nil
}

// Text returns the page's visible text (document.body.innerText).
func (p *Page) Text(ctx context.Context) (string, error) {
	var s string
	err := p.Eval(ctx, `document.body ? document.body.innerText : ""`, &s)
	return s, err
}

// Screenshot writes a PNG of the viewport to file.
func (p *Page) Screenshot(ctx context.Context, file string) error {
	var res struct {
		Data string `json:"data"`
	}
	if err := p.Call(ctx, "Page.captureScreenshot", map[string]any{"format": "png"}, &res); err != nil {
		return err
	}
	png, err := base64.StdEncoding.DecodeString(res.Data)
	if err != nil {
		return fmt.Errorf("cdp: screenshot: %w", err)
	}
	return os.WriteFile(file, png, 0o644)
}

// Download runs action (a click on a download link) and waits until the
// browser has saved the download in dir; it returns the file's path, named
// as the server suggested. A canceled download is an error.
func (p *Page) Download(ctx context.Context, dir string, action func() error) (string, error) {
	if err := p.Call(ctx, "Browser.setDownloadBehavior", map[string]any{
		"behavior": "allowAndName", "downloadPath": dir, "eventsEnabled": true}, nil); err != nil {
		return "", err
	}
	begin, cancelBegin := p.subscribe("Browser.downloadWillBegin")
	defer cancelBegin()
	progress, cancelProgress := p.subscribe("Browser.downloadProgress")
	defer cancelProgress()
	if err := action(); err != nil {
		return "", err
	}
	var guid, name string
	for {
		select {
		case raw := <-begin:
			var ev struct {
				GUID              string `json:"guid"`
				SuggestedFilename string `json:"suggestedFilename"`
			}
			json.Unmarshal(raw, &ev)
			if guid == "" {
				guid, name = ev.GUID, ev.SuggestedFilename
			}
		case raw := <-progress:
			var ev struct {
				GUID  string `json:"guid"`
				State string `json:"state"`
			}
			json.Unmarshal(raw, &ev)
			if guid == "" || ev.GUID != guid {
				continue
			}
			switch ev.State {
			case "completed":
				name = filepath.Base(name)
				if name == "." || name == "/" || name == "" {
					name = guid
				}
				dst := filepath.Join(dir, name)
				if err := os.Rename(filepath.Join(dir, guid), dst); err != nil {
					return "", fmt.Errorf("cdp: download: %w", err)
				}
				return dst, nil
			case "canceled":
				return "", fmt.Errorf("cdp: download %s canceled", name)
			}
		case <-p.closed:
			return "", errors.New("cdp: page closed while downloading")
		case <-ctx.Done():
			return "", fmt.Errorf("cdp: waiting for a download: %w", ctx.Err())
		}
	}
}

// Close disconnects from the page (the browser closes it with itself).
func (p *Page) Close() error {
	err := p.ws.Close()
	select {
	case <-p.closed:
	case <-time.After(5 * time.Second):
	}
	return err
}
