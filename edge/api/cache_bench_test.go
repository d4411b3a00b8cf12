package api_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openagents/trust/edge/sqlite"
	"github.com/openagents/trust/shared/trust"
)

// uncachedSignatures and uncachedMachines hide the catalog version of the
// real services, which turns the server's caches off: the "before" figure.
type uncachedSignatures struct{ trust.SignatureService }
type uncachedMachines struct{ trust.MachineTokenService }

// BenchmarkBatchLookupFloor measures, in one run, the batch lookup of 50 skill
// versions against the HTTP floor: a minimal Go handler that discards the
// body and writes {"status":"ok"}. One plain HTTP client for all three
// (keep-alive, GOMAXPROCS goroutines, same body, answer read and discarded, as
// cluster-bench does), so the ratio compares servers, not JSON decoding:
//
//   - Cached: the edge server, with its catalog-versioned caches;
//   - CachedPolled: the same with the catalog version polled every 5 ms
//     (sqlite.DB.VersionPoll), as trust-edge runs by default;
//   - Uncached: the same server with the caches off (what it did before);
//   - Floor: the constant handler ({"status":"ok"});
//   - FloorSameSize: a constant handler whose constant is as large as the
//     real answer (same bytes on the wire, no work).
func BenchmarkBatchLookupFloor(b *testing.B) {
	s := MustOpenServer(b)
	s.MustPublishTestKeys(b)
	refs := s.MustSignSkills(b, 50)
	token := s.MustMachineToken(b, "bench")
	if err := s.Open(); err != nil {
		b.Fatal(err)
	}
	defer s.Close()

	u := MustOpenServer(b) // the uncached server, on the same catalog
	u.DB.Close()
	u.SkillVersionService, u.KeyService = s.SkillVersionService, s.KeyService
	u.SignatureService = uncachedSignatures{s.SignatureService}
	u.MachineTokenService = uncachedMachines{s.MachineTokenService}
	if err := u.Open(); err != nil {
		b.Fatal(err)
	}
	defer u.Close()

	// The edge as trust-edge runs it (-catalog-version-poll 5ms), on the
	// same catalog: the version is an atomic load between polls.
	p := MustOpenServer(b)
	p.DB.Close()
	pdb := sqlite.NewDB(s.DB.DSN)
	pdb.AutoMigrate = false
	pdb.VersionPoll = 5 * time.Millisecond
	if err := pdb.Open(); err != nil {
		b.Fatal(err)
	}
	defer pdb.Close()
	p.SkillVersionService, p.KeyService = sqlite.NewSkillVersionService(pdb), sqlite.NewKeyService(pdb)
	p.SignatureService, p.MachineTokenService = sqlite.NewSignatureService(pdb), sqlite.NewMachineTokenService(pdb)
	if err := p.Open(); err != nil {
		b.Fatal(err)
	}
	defer p.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	floor := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"ok"}`)
	})}
	go floor.Serve(ln)
	defer floor.Close()

	// A second floor: a constant exactly as large as the real answer, so the
	// bytes on the wire are the same and only the work differs.
	answer := s.Do(b, "POST", "/v1/signatures/batch", token, batchBody(refs)).Body.Bytes()
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	floorSized := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write(answer)
	})}
	go floorSized.Serve(ln2)
	defer floorSized.Close()

	body := batchBody(refs)
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: 64, MaxIdleConnsPerHost: 64, IdleConnTimeout: time.Minute}}

	for _, bm := range []struct{ name, url string }{
		{"Cached", s.URL()},
		{"CachedPolled", p.URL()},
		{"Uncached", u.URL()},
		{"Floor", "http://" + ln.Addr().String()},
		{"FloorSameSize", "http://" + ln2.Addr().String()},
	} {
		b.Run(bm.name, func(b *testing.B) {
			url := bm.url + "/v1/signatures/batch"
			b.ReportAllocs()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("Authorization", "Bearer "+token)
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
		})
	}
}

// batchBody is the JSON body of a batch lookup of refs.
func batchBody(refs []trust.SkillRef) string {
	parts := make([]string, len(refs))
	for i, r := range refs {
		parts[i] = fmt.Sprintf(`{"name":%q,"version":%q}`, r.Name, r.Version)
	}
	return `{"skills":[` + strings.Join(parts, ",") + `]}`
}
