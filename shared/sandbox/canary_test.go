package sandbox

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// httpBody returns a deterministic HTTP request of about 16 KiB whose JSON body
// holds prose and, with ids, the hex digests and base64 ids real APIs send.
func httpBody(ids bool, payload string) []byte {
	rng := mrand.New(mrand.NewPCG(1, 2))
	words := strings.Fields("the skill reads a file counts words and posts a short summary to the service with retries backoff status ok error " +
		"queue worker batch result user agent config timeout region bucket object version latest")
	var body strings.Builder
	body.WriteString(`{"items":[`)
	for i := 0; body.Len() < 15<<10; i++ {
		if i > 0 {
			body.WriteString(",")
		}
		fmt.Fprintf(&body, `{"n":%d,"text":"`, i)
		for j := 0; j < 12; j++ {
			body.WriteString(words[rng.IntN(len(words))] + " ")
		}
		body.WriteString(`"`)
		if ids {
			var d [32]byte
			for k := range d {
				d[k] = byte(rng.Uint32())
			}
			fmt.Fprintf(&body, `,"sha256":"%x","id":"%s"`, d, base64.RawURLEncoding.EncodeToString(d[:18]))
		}
		body.WriteString("}")
	}
	body.WriteString(`],"data":"` + payload + `"}`)
	return []byte(fmt.Sprintf("POST /v1/upload HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: python-requests/2.32\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", body.Len(), body.String()))
}

// gzipB64 is what `gzip | base64 -w0` makes of s.
func gzipB64(s string) string {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(s))
	zw.Close()
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

func BenchmarkMatcherFind(b *testing.B) {
	cs := NewCanaries()
	m := newMatcher(cs)
	for _, bb := range []struct {
		name string
		body []byte
		want int
	}{
		{"Plain", httpBody(false, ""), 0},
		{"PlainIDs", httpBody(true, ""), 0},
		{"GzipBase64", httpBody(false, gzipB64(cs[8].Value)), 1},
	} {
		b.Run(bb.name, func(b *testing.B) {
			if got := m.find(bb.body); len(got) != bb.want {
				b.Fatalf("found %v, want %d canaries", got, bb.want)
			}
			b.SetBytes(int64(len(bb.body)))
			for b.Loop() {
				m.find(bb.body)
			}
		})
	}
}

// fixedToken is the token inside bzip2Netrc, which the bzip2 tool made of
// "machine example.org login agent password " + fixedToken + "\n" (the
// standard library has no bzip2 writer).
const (
	fixedToken = "k3Vq9ZrT2mXw7LpB4nHc8YdF6sJg1QaE"
	bzip2Netrc = "QlpoOTFBWSZTWdojjqMAABnfgAAQQAE94BNUJXAu7/zAIABUY0AMEDCBk0aZPQwaGg0aDRpp6RiDNIZwAuBJ0t0QLHvca8d0CmALaRUcGHt9OKrKeyx2qEppvHXA8TjdPhgmIZzfl7UFBpC7kinChIbRHHUY"
)

// packCanaries are a fresh canary set plus the fixed one of bzip2Netrc.
func packCanaries() []Canary {
	return append(NewCanaries(), Canary{Name: "FIXED", Env: true, Value: "fx_" + fixedToken, Token: fixedToken})
}

func mustBzip2(tb testing.TB) []byte {
	tb.Helper()
	b, err := base64.StdEncoding.DecodeString(bzip2Netrc)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func gz(b []byte) []byte { return gzLevel(b, gzip.DefaultCompression) }

func gzLevel(b []byte, level int) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, level)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func zl(b []byte) []byte {
	var buf bytes.Buffer
	zw := zlib.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// tarOf archives name/content pairs, as tar cf - does.
func tarOf(tb testing.TB, files ...string) []byte {
	tb.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i := 0; i+1 < len(files); i += 2 {
		tw.WriteHeader(&tar.Header{Name: files[i], Mode: 0o600, Size: int64(len(files[i+1])), Typeflag: tar.TypeReg})
		tw.Write([]byte(files[i+1]))
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func zipOf(tb testing.TB, method uint16, files ...string) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := 0; i+1 < len(files); i += 2 {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: files[i], Method: method})
		if err != nil {
			tb.Fatal(err)
		}
		w.Write([]byte(files[i+1]))
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// wrap breaks s into lines of n characters, as base64 (76) and xxd -p (60) do.
func wrap(s string, n int) string {
	var sb strings.Builder
	for len(s) > n {
		sb.WriteString(s[:n] + "\n")
		s = s[n:]
	}
	sb.WriteString(s)
	return sb.String()
}

func mustJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func TestMatcherPacked(t *testing.T) {
	cs := packCanaries()
	m := newMatcher(cs)
	ssh, aws, env := cs[7], cs[8], cs[9] // .ssh/id_ed25519, .aws/credentials, .env
	if ssh.Name != ".ssh/id_ed25519" || aws.Name != ".aws/credentials" || env.Name != ".env" {
		t.Fatalf("canary order changed: %s %s %s", ssh.Name, aws.Name, env.Name)
	}
	home := tarOf(t, "home/agent/.ssh/id_ed25519", ssh.Value, "home/agent/.aws/credentials", aws.Value)
	inner := `{"k":"` + b64(gz([]byte(env.Value))) + `"}`
	truncated := gz(tarOf(t, "home/agent/.ssh/id_ed25519", ssh.Value, "home/agent/.ssh/blob", string(randomBytes(64<<10))))
	truncated = truncated[:len(truncated)/2]
	http := "POST /u HTTP/1.1\r\nHost: x.example\r\n\r\n"
	for _, tt := range []struct {
		name string
		data string
		want []string
	}{
		{"GzipRaw", http + string(gz([]byte(env.Value))), []string{env.Name}},
		{"ZlibRaw", "junk" + string(zl([]byte(env.Value))) + "junk", []string{env.Name}},
		{"Bzip2Raw", http + string(mustBzip2(t)), []string{"FIXED"}},
		{"Bzip2Base64", "d=" + b64(mustBzip2(t)), []string{"FIXED"}},
		{"ZipDeflate", string(zipOf(t, zip.Deflate, "README", "hello", ".env", env.Value)), []string{env.Name}},
		{"ZipBase64URL", base64.URLEncoding.EncodeToString(zipOf(t, zip.Deflate, ".env", env.Value)), []string{env.Name}},
		{"GzipBase64Std", http + b64(gz([]byte(env.Value))), []string{env.Name}},
		{"GzipBase64URL", "/c?d=" + base64.URLEncoding.EncodeToString(gz([]byte(env.Value))), []string{env.Name}},
		{"GzipBase64Raw", base64.RawStdEncoding.EncodeToString(gz([]byte(env.Value))), []string{env.Name}},
		{"GzipBase64Wrapped", wrap(b64(gz([]byte(env.Value))), 76) + "\n", []string{env.Name}},
		{"GzipBase64GluedPrefix", "payloadX" + b64(gz([]byte(env.Value))), []string{env.Name}},
		{"GzipHex", "h=" + hex.EncodeToString(gz([]byte(env.Value))), []string{env.Name}},
		{"GzipHexOddStart", "ah=f" + hex.EncodeToString(gz([]byte(env.Value))), []string{env.Name}},
		{"ZlibBase64", `{"blob":"` + b64(zl([]byte(env.Value))) + `"}`, []string{env.Name}},
		{"ZlibHexWrapped", wrap(hex.EncodeToString(zl([]byte(env.Value))), 60), []string{env.Name}},
		{"TarGzBase64", wrap(b64(gz(home)), 76), []string{ssh.Name, aws.Name}},
		{"TarGzTruncated", b64(truncated), []string{ssh.Name}},
		{"NestedJSON", `{"data":"` + b64(gz([]byte(inner))) + `"}`, []string{env.Name}},
		{"ZipInTarGz", b64(gz(tarOf(t, "x.zip", string(zipOf(t, zip.Deflate, ".env", env.Value))))), []string{env.Name}},
		{"FormEncodedTarGzBase64", "d=" + url.QueryEscape(b64(gz(home))) + "&x=1", []string{ssh.Name, aws.Name}},
		{"FormEncodedBase64", "k=" + url.QueryEscape(b64([]byte("?>?"+env.Value))), []string{env.Name}},
		{"JSONEscapedWrappedBase64", string(mustJSON(t, map[string]string{"out": wrap(b64(gz(home)), 76) + "\n"})), []string{ssh.Name, aws.Name}},
		{"JSONEscapedSlashes", `{"d":"` + strings.ReplaceAll(b64(gz(home)), "/", `\/`) + `"}`, []string{ssh.Name, aws.Name}},
		{"ThreeDeep", string(gz(gz(gz([]byte(env.Value))))), []string{env.Name}},
		{"FourDeepNotFollowed", string(gz(gz(gz(gz([]byte(env.Value)))))), nil},
		{"NoCanaryRandomBase64", wrap(b64(randomBytes(8<<10)), 76), nil},
		{"NoCanaryGzipText", http + b64(gz([]byte(strings.Repeat("the quick brown fox ", 500)))), nil},
		{"NoCanaryGzipOtherToken", b64(gz([]byte("sk-ant-api03-" + token(32)))), nil},
		{"NoCanaryRandomHex", hex.EncodeToString(randomBytes(4 << 10)), nil},
		{"NoCanaryRandomBytes", string(randomBytes(64 << 10)), nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := m.find([]byte(tt.data))
			slices.Sort(got)
			want := slices.Clone(tt.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("got %v, want %v", got, want)
			}
		})
	}
}

// A packed leak's window is the start of the run that holds it; the redacted
// evidence and body never show the token.
func TestMatcherPackedWindow(t *testing.T) {
	cs := NewCanaries()
	m, red := newMatcher(cs), newRedactor(cs)
	c := cs[9]
	for _, tt := range []struct {
		name   string
		run    string
		packed bool // false: a stored stream shows the token (or its base64) as such
	}{
		{"GzipBase64", b64(gz([]byte(c.Value))), true},
		{"StoredGzipBase64", b64(gzLevel([]byte(c.Value), gzip.NoCompression)), false},
		{"StoredGzipRaw", string(gzLevel([]byte(c.Value), gzip.NoCompression)), false},
		{"ZlibRaw", string(zl([]byte(c.Value))), true},
		{"ZipStored", string(zipOf(t, zip.Store, ".env", c.Value)), false},
		{"FormEncoded", url.QueryEscape(b64(gz([]byte(strings.Repeat("padding ", 20) + c.Value)))), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			prefix := "POST /x HTTP/1.1\r\nHost: a.example\r\n\r\nd="
			body := []byte(prefix + tt.run + "&end=1")
			names, w := m.match(body, 20)
			if !slices.Contains(names, c.Name) {
				t.Fatalf("names: got %v, want %s", names, c.Name)
			}
			if want := body[len(prefix)-20 : len(prefix)+20]; tt.packed && !bytes.Equal(w, want) || len(w) != 40 {
				t.Fatalf("window: got %q, want %q", w, want)
			}
			for _, out := range []string{red.printable(body, 4000), red.printable(w, 200), red.text(body, 4000)} {
				if strings.Contains(out, key(c)) {
					t.Fatalf("token printed: %s", out)
				}
			}
		})
	}
}

// bomb returns a gzip file that inflates to n MiB of zeros, made of
// concatenated members of 1 MiB each (gunzip reads them as one stream).
func bomb(n int) []byte {
	member := gzLevel(make([]byte, 1<<20), gzip.BestCompression)
	return bytes.Repeat(member, n)
}

// Bombs stop at the per-stream and per-call limits: checked by what the
// search allocates, not by time.
func TestMatcherBomb(t *testing.T) {
	cs := NewCanaries()
	m := newMatcher(cs)
	var big bytes.Buffer // one member, 64 MiB of zeros
	zw, _ := gzip.NewWriterLevel(&big, gzip.BestSpeed)
	zero := make([]byte, 1<<20)
	for range 64 {
		zw.Write(zero)
	}
	zw.Close()
	for _, tt := range []struct {
		name string
		data []byte
	}{
		{"OneGiBConcatenated", bomb(1024)},
		{"OneGiBConcatenatedBase64", []byte(b64(bomb(1024)))},
		{"OneMember64MiB", big.Bytes()},
		{"NestedBombs", gz(gz(bomb(64)))},
		{"ManyMembersInBase64Runs", []byte(strings.Repeat(b64(bomb(2))+" ", 100))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			got := m.find(tt.data)
			runtime.ReadMemStats(&after)
			if len(got) != 0 {
				t.Fatalf("got %v in zeros", got)
			}
			// 4 MiB inflated and 4 MiB decoded per call, each growing its buffer by
			// doubling, plus the base64 copies of the runs and the readers.
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 96<<20+4*uint64(len(tt.data)) {
				t.Fatalf("allocated %d MiB for a %d KiB input", alloc>>20, len(tt.data)>>10)
			}
		})
	}
}

// A decompressor that takes more than the budget has no further stream opened.
func TestUnpackerBudget(t *testing.T) {
	cs := NewCanaries()
	m := newMatcher(cs)
	at := []int{}
	for range cs {
		at = append(at, -1)
	}
	u := unpacker{m: m, at: at, left: len(cs), inflate: packTotal, decode: packTotal}
	u.search(bomb(64), 0, -1, true)
	if used := packTotal - u.inflate; used > packTotal || used < packStream {
		t.Fatalf("inflated %d bytes, want between %d and %d", used, packStream, packTotal)
	}
	if u.tries > packTotal/packStream+1 {
		t.Fatalf("opened %d streams after the budget ran out", u.tries)
	}
}

func FuzzMatcherFind(f *testing.F) {
	cs := []Canary{
		{Name: "FIXED", Env: true, Value: "fx_" + fixedToken, Token: fixedToken},
		{Name: "OTHER", Env: true, Value: "ot_QWERTYuiop1234567890asdfGHJKLz", Token: "QWERTYuiop1234567890asdfGHJKLz"},
	}
	m := newMatcher(cs)
	f.Add([]byte("x=fx_" + fixedToken))
	f.Add(mustBzip2(f))
	f.Add(gz([]byte(cs[0].Value)))
	f.Add(zl([]byte(cs[1].Value)))
	f.Add([]byte(b64(gz([]byte(cs[0].Value)))))
	f.Add([]byte(hex.EncodeToString(zl([]byte(cs[1].Value)))))
	f.Add(zipOf(f, zip.Deflate, "a", cs[0].Value))
	f.Add(gz(tarOf(f, "a", cs[1].Value))[:40])
	f.Add([]byte("PK\x03\x04\x14\x00\x00\x00\x08\x00" + strings.Repeat("\xff", 30)))
	f.Add([]byte("x\x9c\x01\x00\x00BZh91AY&SY\x1f\x8b\x08\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		names, w := m.match(b, 30)
		if len(names) > len(cs) || len(w) > 60 || len(w) > len(b) {
			t.Fatalf("names %v, window of %d bytes for %d", names, len(w), len(b))
		}
		if bytes.Contains(b, []byte(key(cs[0]))) && !slices.Contains(names, "FIXED") {
			t.Fatalf("raw key not found: %v", names)
		}
	})
}

func TestCanaryFiles(t *testing.T) {
	cs := NewCanaries()
	total := 0
	byName := map[string]Canary{}
	for _, c := range cs {
		total += len(c.Value)
		byName[c.Name] = c
	}
	// The home is a tmpfs of TmpfsBytes; the canaries take a few KiB of it.
	if total > 64<<10 || int64(total) > New().TmpfsBytes/64 {
		t.Fatalf("canary files take %d bytes", total)
	}
	for _, tt := range []struct {
		name, shape string
	}{
		{".clawdbot/.env", "\nANTHROPIC_API_KEY=sk-ant-api03-"},
		{".openclaw/openclaw.json", `"apiKey":"sk-ant-api03-`},
		{".claude/.credentials.json", `"accessToken":"sk-ant-oat01-`},
		{".config/gh/hosts.yml", "    oauth_token: gho_"},
		{".docker/config.json", `{"auths":{"https://index.docker.io/v1/":{"auth":"`},
		{".kube/config", "    token: "},
		{".netrc", "  password "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, ok := byName[tt.name]
			if !ok || c.Env || !strings.Contains(c.Value, tt.shape) {
				t.Fatalf("got %+v, want a file holding %q", c, tt.shape)
			}
			if name, ok := canaryPath(cs, HomeDir+"/"+tt.name); !ok || name != tt.name {
				t.Fatalf("canaryPath: got %q %v", name, ok)
			}
		})
	}
	// Docker's auth decodes to user:password with the token as password.
	d := byName[".docker/config.json"].Value
	i := strings.Index(d, `"auth":"`) + len(`"auth":"`)
	auth, err := base64.StdEncoding.DecodeString(d[i : i+strings.IndexByte(d[i:], '"')])
	if err != nil || string(auth) != "agent:"+byName[".docker/config.json"].Token {
		t.Fatalf("docker auth: got %q %v", auth, err)
	}
}

// Compressed data in hex DNS labels, the way DNS tunnels carry it.
func TestMatcherDNSPacked(t *testing.T) {
	cs := NewCanaries()
	m := newMatcher(cs)
	c := cs[9]
	h := strings.ToUpper(hex.EncodeToString(zl([]byte(c.Value))))
	var labels []string
	for len(h) > 50 {
		labels, h = append(labels, h[:50]), h[50:]
	}
	name := strings.Join(append(labels, h, "t", "evil", "example"), ".")
	if got := m.findDNS(name); !slices.Equal(got, []string{c.Name}) {
		t.Fatalf("findDNS(%s): got %v, want [%s]", name, got, c.Name)
	}
	if got := m.findDNS(hex.EncodeToString(zl([]byte("hello"))) + ".evil.example"); len(got) != 0 {
		t.Fatalf("clean name: got %v", got)
	}
}

func TestCandidates(t *testing.T) {
	r16 := "AbCdEfGhIjKlMnOp" // 16 base64 characters, not hex
	h16 := "0123456789abcdef"
	for _, tt := range []struct {
		name   string
		in     string
		magics []int
		spans  []span
	}{
		{"Prose", "the quick brown fox jumps over the lazy dog, twice over", nil, nil},
		{"ShortRun", "a=" + r16[:15] + " b", nil, nil},
		{"Run16", "a=" + r16 + " b", nil, []span{{2, 18, 16, false}}},
		{"RunAtEnd", "..." + r16, nil, []span{{3, 19, 16, false}}},
		{"RunWrapped", r16[:10] + "\r\n" + r16[10:] + ".", nil, []span{{0, 18, 16, false}}},
		{"Hex", "h:" + h16 + ";", nil, []span{{2, 18, 16, true}, {2, 18, 16, false}}},
		{"HexInsideBase64", "zz" + h16 + "zz", nil, []span{{2, 18, 16, true}, {0, 20, 20, false}}},
		// "x^" is a valid zlib header (levels 2-5); a zip header needs its 30 bytes.
		{"Magics", "x\x9c\x01.." + "\x1f\x8b\x08\x00" + strings.Repeat(".", 14) + "BZh91AY&SY x^ PK\x03\x04", []int{0, 5, 23, 34}, nil},
		{"NotMagics", "x\x9d\x01 \x1f\x8b\x09 BZh0 BZh91AY&SX xyz" + strings.Repeat(".", 30), nil, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			magics, spans := candidates([]byte(tt.in), true)
			if !slices.Equal(magics, tt.magics) || !slices.Equal(spans, tt.spans) {
				t.Fatalf("got %v %+v, want %v %+v", magics, spans, tt.magics, tt.spans)
			}
		})
	}
}
