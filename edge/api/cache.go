package api

import (
	"bytes"
	"container/list"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/json"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"weak"

	"github.com/openagents/trust/shared/edgeapi"
	"github.com/openagents/trust/shared/trust"
)

// The read caches: encoded batch answers and authenticated Machine tokens, each
// valid for one catalog version only.
//
// A catalog service that implements catalogVersioner (edge/sqlite does, with
// SQLite's data_version) reports a version that moves whenever any change to
// the catalog becomes visible to this process — a write through this node, or
// a transaction LiteFS replicated underneath it. A cached value is stored
// under the version read *before* the catalog was queried, and served only
// while the version is still that one, so nothing is served once a newer
// change is visible locally: a new signature, a revoked key, a version moved
// to rejected, a revoked Machine token. A service without a version (a fake,
// an in-memory catalog) is simply not cached.

// Cache bounds.
const (
	// BatchCacheBytes bounds the encoded batch answers kept (about 600
	// answers of 50 signed versions); the least recently used go first.
	BatchCacheBytes = 32 << 20

	// batchEntryOverhead is what one cached answer costs besides its body:
	// key, list element, map slot.
	batchEntryOverhead = 160

	// authCacheEntries bounds the Machine tokens remembered per version.
	authCacheEntries = 8192
)

// catalogVersioner is a catalog service that can tell when the catalog
// changed (see sqlite.DB.Version).
type catalogVersioner interface {
	CatalogVersion(ctx context.Context) (uint64, error)
}

// catalogInvalidator is a catalog service whose version can be moved by hand,
// for changes the catalog learns of by replication (see
// sqlite.DB.InvalidateVersion).
type catalogInvalidator interface {
	InvalidateCatalogVersion()
}

// invalidateCatalogVersion moves the version of every catalog service that
// has one, after a forwarded write reached this node's copy of the catalog.
func (s *Server) invalidateCatalogVersion() {
	for _, svc := range []any{s.SignatureService, s.MachineTokenService} {
		if ci, ok := svc.(catalogInvalidator); ok {
			ci.InvalidateCatalogVersion()
		}
	}
}

// catalogVersion returns svc's catalog version, or false when it has none.
func catalogVersion(ctx context.Context, svc any) (uint64, bool) {
	cv, ok := svc.(catalogVersioner)
	if !ok {
		return 0, false
	}
	v, err := cv.CatalogVersion(ctx)
	return v, err == nil
}

// serverCache is one Server's caches.
type serverCache struct {
	batch batchCache
	auth  authCache
}

// caches holds each Server's caches without keeping the Server alive (Server
// has no field for them): an entry goes when its Server is collected.
var caches sync.Map // weak.Pointer[Server] → *serverCache

// cache returns the Server's caches, creating them on first use.
func (s *Server) cache() *serverCache {
	key := weak.Make(s)
	if c, ok := caches.Load(key); ok {
		return c.(*serverCache)
	}
	c, loaded := caches.LoadOrStore(key, &serverCache{batch: batchCache{max: BatchCacheBytes}})
	if !loaded {
		runtime.AddCleanup(s, func(key weak.Pointer[Server]) { caches.Delete(key) }, key)
	}
	return c.(*serverCache)
}

// authenticateMachine is MachineTokenService.AuthenticateMachine behind the
// token cache, with the suspension gate (auth.go): a token is cached only
// once its Machine authenticated and was found not suspended. Only the
// token's SHA-256 is kept, compared in constant time; refusals are never
// cached, so a token works again only through the catalog.
//
// A suspension (or its end) is a catalog write, so it moves the version the
// entry is keyed by: a cached Machine is refused on its next request. This
// holds because the Meter and the MachineTokenService share one catalog, as
// edge.Main wires them.
//
// A known but suspended Machine is returned together with the refusal, so
// the caller can log who was refused; any other error comes with no Machine.
func (s *Server) authenticateMachine(ctx context.Context, token string) (*trust.Machine, error) {
	version, versioned := catalogVersion(ctx, s.MachineTokenService)
	sum := sha256.Sum256([]byte(token))
	c := &s.cache().auth
	if versioned {
		if m, ok := c.get(version, sum); ok {
			return &m, nil
		}
	}
	m, err := s.MachineTokenService.AuthenticateMachine(ctx, token)
	if err != nil {
		return nil, err
	}
	if err := s.checkSuspended(ctx, m.TenantID, m.ID); err != nil {
		return m, err
	}
	if versioned {
		c.put(version, sum, *m)
	}
	return m, nil
}

// authCache maps token digests to Machines for one catalog version.
type authCache struct {
	mu      sync.Mutex
	version uint64
	entries map[[16]byte]authEntry // by the first half of the digest
}

// authEntry is one authenticated token: its full digest and its Machine.
type authEntry struct {
	sum     [sha256.Size]byte
	machine trust.Machine
}

// get returns the Machine of the token with digest sum, if it authenticated
// at this version.
func (c *authCache) get(version uint64, sum [sha256.Size]byte) (trust.Machine, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if version != c.version {
		return trust.Machine{}, false
	}
	e, ok := c.entries[[16]byte(sum[:16])]
	if !ok || subtle.ConstantTimeCompare(e.sum[:], sum[:]) != 1 {
		return trust.Machine{}, false
	}
	return e.machine, true
}

// put remembers that the token with digest sum authenticated as m at version.
// A newer version drops everything older; an older one is not stored.
func (c *authCache) put(version uint64, sum [sha256.Size]byte, m trust.Machine) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if version < c.version {
		return
	} else if version > c.version || c.entries == nil || len(c.entries) >= authCacheEntries {
		c.version, c.entries = version, make(map[[16]byte]authEntry)
	}
	c.entries[[16]byte(sum[:16])] = authEntry{sum: sum, machine: m}
}

// batchAnswer returns the encoded answer (JSON and its newline, as
// httpapi.WriteJSON writes it) to a batch request for refs, valid ones or not:
// from the cache when the catalog has not changed since it was computed. The
// answer is the same for every caller, so the key is the refs alone.
//
// rawKey, when not zero, is the key of the request body as sent (see
// batchCached): the answer is stored under it too.
func (s *Server) batchAnswer(ctx context.Context, refs []trust.SkillRef, rawKey [sha256.Size]byte) ([]byte, error) {
	version, versioned := catalogVersion(ctx, s.SignatureService)
	key := batchKey(refs)
	c := &s.cache().batch
	if versioned {
		if body, ok := c.get(version, key); ok {
			if rawKey != ([sha256.Size]byte{}) {
				c.put(version, rawKey, body)
			}
			return body, nil
		}
	}
	m, err := s.SignatureService.FindSignatures(ctx, refs)
	if err != nil {
		return nil, err
	}
	resp := edgeapi.BatchResponse{Results: make([]edgeapi.BatchResult, len(refs))}
	for i, ref := range refs {
		resp.Results[i] = edgeapi.BatchResult{Name: ref.Name, Version: ref.Version, Signatures: nonNil(m[ref])}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(true)
	if err := enc.Encode(resp); err != nil {
		return nil, err
	}
	body := buf.Bytes()
	if versioned {
		c.put(version, key, body)
		if rawKey != ([sha256.Size]byte{}) {
			c.put(version, rawKey, body)
		}
	}
	return body, nil
}

// batchCached looks a batch request up by its body as sent, before any JSON
// is decoded: a body byte-identical to one already answered at this catalog
// version gets the same answer (decoding is deterministic, and only answers
// of valid requests are stored). It leaves r.Body readable from the start for
// httpapi.ReadJSON, and returns the key to store the answer under (zero when
// the body is not worth keying: too large, or not JSON by its content type).
func (s *Server) batchCached(r *http.Request, limit int64) (body []byte, rawKey [sha256.Size]byte, ok bool) {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return nil, rawKey, false
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	r.Body = readCloser{io.MultiReader(bytes.NewReader(raw), r.Body), r.Body}
	if err != nil || int64(len(raw)) > limit {
		return nil, rawKey, false
	}
	h := sha256.New()
	h.Write([]byte("raw/v1"))
	h.Write(raw)
	rawKey = [sha256.Size]byte(h.Sum(nil))
	if version, versioned := catalogVersion(r.Context(), s.SignatureService); versioned {
		body, ok = s.cache().batch.get(version, rawKey)
	}
	return body, rawKey, ok
}

// readCloser reads from one reader and closes another.
type readCloser struct {
	io.Reader
	io.Closer
}

// batchKey is the SHA-256 of the refs in order, each part length-prefixed, so
// two requests share a key exactly when they ask for the same refs in the same
// order (however their JSON was spelled).
func batchKey(refs []trust.SkillRef) [sha256.Size]byte {
	h := sha256.New()
	buf := make([]byte, 0, 512)
	buf = append(buf, "batch/v1"...)
	for _, ref := range refs {
		buf = binary.AppendUvarint(buf, uint64(len(ref.Name)))
		buf = append(buf, ref.Name...)
		buf = binary.AppendUvarint(buf, uint64(len(ref.Version)))
		buf = append(buf, ref.Version...)
		if len(buf) > 4096 {
			h.Write(buf)
			buf = buf[:0]
		}
	}
	h.Write(buf)
	return [sha256.Size]byte(h.Sum(nil))
}

// writeJSONBody writes an encoded 200 answer with the headers of
// httpapi.WriteJSON and its length.
func writeJSONBody(w http.ResponseWriter, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

// batchCache is a least-recently-used cache of encoded batch answers for one
// catalog version, bounded in bytes.
type batchCache struct {
	mu      sync.Mutex
	max     int64 // bytes
	size    int64 // bytes held, overhead included
	version uint64
	entries map[[sha256.Size]byte]*list.Element
	lru     list.List // of *batchEntry, most recent first
}

// batchEntry is one cached answer.
type batchEntry struct {
	key  [sha256.Size]byte
	body []byte
}

// cost is what an entry counts against the bound.
func (e *batchEntry) cost() int64 { return int64(len(e.body)) + batchEntryOverhead }

// get returns the answer stored under key at this version. The bytes are
// shared: callers only write them out.
func (c *batchCache) get(version uint64, key [sha256.Size]byte) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if version != c.version {
		return nil, false
	}
	el, ok := c.entries[key]
	if !ok {
		return nil, false
	}
	c.lru.MoveToFront(el)
	return el.Value.(*batchEntry).body, true
}

// put stores an answer computed at version. A newer version drops everything
// older; an answer from an older one, or larger than the bound, is not kept.
func (c *batchCache) put(version uint64, key [sha256.Size]byte, body []byte) {
	e := &batchEntry{key: key, body: body}
	c.mu.Lock()
	defer c.mu.Unlock()
	if version < c.version || e.cost() > c.max {
		return
	} else if version > c.version || c.entries == nil {
		c.version, c.size = version, 0
		c.entries = make(map[[sha256.Size]byte]*list.Element)
		c.lru.Init()
	}
	if el, ok := c.entries[key]; ok {
		c.size -= el.Value.(*batchEntry).cost()
		c.lru.Remove(el)
	}
	c.entries[key] = c.lru.PushFront(e)
	c.size += e.cost()
	for c.size > c.max {
		old := c.lru.Remove(c.lru.Back()).(*batchEntry)
		delete(c.entries, old.key)
		c.size -= old.cost()
	}
}

// len returns the number of answers and the bytes held.
func (c *batchCache) len() (int, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries), c.size
}
