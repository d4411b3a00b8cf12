package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"

	"github.com/openagents/trust/shared/httpapi"
	"github.com/openagents/trust/shared/trust"
)

// Replication headers.
const (
	// HeaderTXID carries, on the answer to a write, the catalog transaction
	// the primary held when it answered (16 hex digits, as LiteFS writes it).
	HeaderTXID = "X-Trust-Txid"

	// headerForwarded marks a write forwarded by a replica, so a node that
	// is not the primary either answers instead of forwarding it again.
	headerForwarded = "X-Trust-Forwarded"

	// headerFlyReplay asks Fly's proxy to replay the request elsewhere.
	headerFlyReplay = "Fly-Replay"
)

// readOnlyPosts are the POST routes that only read (lookups with a body):
// replicas serve them locally.
var readOnlyPosts = map[string]bool{
	"POST /v1/signatures/batch":                true,
	"POST /v1/service/publishers/authenticate": true,
}

// Standalone is the Replication of a single node: every write is local,
// nothing waits.
type Standalone struct{}

// WriteRoute implements trust.Replication.
func (Standalone) WriteRoute(context.Context) (trust.WriteRoute, error) {
	return trust.WriteRoute{Local: true}, nil
}

// Position implements trust.Replication.
func (Standalone) Position(context.Context) (uint64, error) { return 0, nil }

// WaitPosition implements trust.Replication.
func (Standalone) WaitPosition(context.Context, uint64) error { return nil }

// WaitReplicas implements trust.Replication.
func (Standalone) WaitReplicas(context.Context, uint64) error { return nil }

// forwardTransport carries forwarded writes to the primary.
var forwardTransport = func() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = WriteTimeout / 2
	t.MaxIdleConnsPerHost = 32
	return t
}()

// replicate serves a routed request. Reads run here. A write runs here on
// the primary — its answer then carries the transaction in HeaderTXID and is
// held until enough replicas confirm it — and is forwarded to the primary
// from a replica, which answers only once it holds the write itself, so the
// client reads its own writes from the node it asked.
func (s *Server) replicate(w http.ResponseWriter, r *http.Request) {
	repl := s.Replication
	if _, standalone := repl.(Standalone); repl == nil || standalone || !s.isWrite(r) {
		s.mux.ServeHTTP(w, r)
		return
	}
	route, err := repl.WriteRoute(r.Context())
	switch {
	case err != nil:
		s.error(w, r, err)
	case route.Local:
		s.serveLocalWrite(w, r, repl)
	case r.Header.Get(headerForwarded) != "":
		s.error(w, r, trust.Errorf(trust.EUNAVAILABLE, "the primary changed while the write was forwarded; retry"))
	case route.FlyInstance != "":
		w.Header().Set(headerFlyReplay, "instance="+route.FlyInstance)
		s.error(w, r, trust.Errorf(trust.EUNAVAILABLE, "writes are served by the primary"))
	default:
		s.forwardWrite(w, r, repl, route.URL)
	}
}

// isWrite reports whether r changes the catalog.
func (s *Server) isWrite(r *http.Request) bool {
	switch r.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		_, pattern := s.mux.Handler(r)
		return !readOnlyPosts[pattern]
	}
	return false
}

// serveLocalWrite runs a write on the primary with its answer buffered, then
// adds the transaction and waits for the replicas' acknowledgements.
func (s *Server) serveLocalWrite(w http.ResponseWriter, r *http.Request, repl trust.Replication) {
	before, err := repl.Position(r.Context())
	if err != nil {
		s.error(w, r, fmt.Errorf("position before write: %w", err))
		return
	}
	bw := &bufferedWriter{header: make(http.Header)}
	s.mux.ServeHTTP(bw, r)
	after, err := repl.Position(r.Context())
	if err != nil {
		s.error(w, r, fmt.Errorf("position after write: %w", err))
		return
	}
	if bw.statusCode() < http.StatusBadRequest && after > before {
		if err := repl.WaitReplicas(r.Context(), after); err != nil {
			s.error(w, r, err)
			return
		}
	}
	for k, v := range bw.header {
		w.Header()[k] = v
	}
	w.Header().Set(HeaderTXID, formatTXID(after))
	w.WriteHeader(bw.statusCode())
	w.Write(bw.body.Bytes())
}

// forwardWrite proxies a write to the primary at base, then waits until this
// node holds the primary's transaction before passing the answer on. The
// Authorization header travels unchanged and is never logged.
func (s *Server) forwardWrite(w http.ResponseWriter, r *http.Request, repl trust.Replication, base string) {
	target, err := url.Parse(base)
	if err != nil {
		s.error(w, r, fmt.Errorf("primary URL: %w", err))
		return
	}
	w.Header().Del("Cache-Control") // the primary's answer sets it
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = target.Host
			pr.Out.Header.Set(headerForwarded, "1")
		},
		Transport: forwardTransport,
		ModifyResponse: func(resp *http.Response) error {
			v := resp.Header.Get(HeaderTXID)
			if v == "" { // a primary that is not replicated: nothing to wait for
				s.invalidateCatalogVersion()
				return nil
			}
			txid, err := strconv.ParseUint(v, 16, 64)
			if err != nil {
				return fmt.Errorf("primary answered a malformed %s %q", HeaderTXID, v)
			}
			if err := repl.WaitPosition(resp.Request.Context(), txid); err != nil {
				return err
			}
			s.invalidateCatalogVersion() // the write is here now: nothing cached before it may be served
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			var terr *trust.Error
			if !errors.As(err, &terr) {
				err = errors.Join(trust.Errorf(trust.EUNAVAILABLE, "primary not reachable; the write may or may not have been applied"),
					fmt.Errorf("forward write to primary: %w", err))
			}
			w.Header().Set("Cache-Control", "no-store")
			httpapi.WriteError(w, r, s.logger(), err)
		},
	}
	proxy.ServeHTTP(w, r)
}

// formatTXID formats a transaction ID as 16 hex digits.
func formatTXID(txid uint64) string { return fmt.Sprintf("%016x", txid) }

// bufferedWriter holds a write's answer until its acknowledgements arrive.
type bufferedWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *bufferedWriter) Header() http.Header { return w.header }

func (w *bufferedWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *bufferedWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.body.Write(b)
}

func (w *bufferedWriter) statusCode() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}
