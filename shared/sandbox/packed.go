package sandbox

import (
	"bytes"
	"compress/bzip2"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"io"
	"slices"
)

// The packed search: canaries inside compressed data, raw or in base64 or
// hex runs, and inside escaped runs (see matcher.locate).

// escapes are what carries base64 across a form, a query or a JSON string:
// %2B and %2F for + and /, \/ for /, and a wrapped run's line breaks as \n.
var escapes = [][]byte{[]byte("%2"), []byte(`\/`), []byte(`\n`), []byte(`\r`)}

// unescaped searches b again with its escapes undone, when it has any.
func (u *unpacker) unescaped(b []byte) {
	if !slices.ContainsFunc(escapes, func(e []byte) bool { return bytes.Contains(b, e) }) {
		return
	}
	d, pos := unescape(b)
	at := slices.Clone(u.at)
	v := *u
	v.at = at
	v.left -= u.m.scan(d, at)
	if v.left > 0 {
		v.search(d, 0, -1, true)
	}
	u.inflate, u.decode, u.tries = v.inflate, v.decode, v.tries
	for i, a := range at {
		if u.at[i] < 0 && a >= 0 {
			u.at[i] = pos[a]
			u.left--
		}
	}
}

// unescape undoes %XX, \/, \n and \r (the last two become nothing, like
// the line breaks of a wrapped run); pos maps offsets in the result to b.
func unescape(b []byte) (out []byte, pos []int) {
	out, pos = make([]byte, 0, len(b)), make([]int, 0, len(b))
	for i := 0; i < len(b); i++ {
		switch {
		case b[i] == '%' && i+2 < len(b) && classes[b[i+1]]&isHex != 0 && classes[b[i+2]]&isHex != 0:
			var x [1]byte
			hex.Decode(x[:], b[i+1:i+3])
			out, pos = append(out, x[0]), append(pos, i)
			i += 2
		case b[i] == '\\' && i+1 < len(b) && b[i+1] == '/':
			out, pos = append(out, '/'), append(pos, i)
			i++
		case b[i] == '\\' && i+1 < len(b) && (b[i+1] == 'n' || b[i+1] == 'r'):
			i++
		default:
			out, pos = append(out, b[i]), append(pos, i)
		}
	}
	return out, pos
}

// Bounds of the packed search: its input is hostile.
const (
	packDepth  = 3       // compressed streams nested in one another (a base64 or hex decoding belongs to the stream it holds)
	packStream = 1 << 20 // bytes inflated from one stream
	packTotal  = 4 << 20 // bytes inflated, and separately bytes decoded, per locate
	packRuns   = 64      // base64 and hex runs decoded per buffer (the longest)
	packRun    = 16      // shortest run decoded, in characters
	packMagics = 128     // compression magics tried per buffer (a zip has one per member)
	packTries  = 512     // streams opened per locate
)

// Byte classes for the candidate scan.
const (
	isB64   uint8 = 1 << iota // standard or URL base64 alphabet, without padding
	isHex                     // hex digit
	isBreak                   // CR, LF: base64 and xxd -p wrap their output
	isMagic                   // first byte of a compression magic
)

var classes = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		alnum := c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if alnum || c == '+' || c == '/' || c == '-' || c == '_' {
			t[c] |= isB64
		}
		if c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' {
			t[c] |= isHex
		}
	}
	t['\r'], t['\n'] = isBreak, isBreak
	for _, c := range []byte{0x1f, 'x', 'B', 'P'} {
		t[c] |= isMagic
	}
	return t
}()

// Compression formats the packed search opens.
const (
	fmtNone = iota
	fmtGzip
	fmtZlib
	fmtBzip2
	fmtZip
)

// magicAt returns the format of a compressed stream starting at b[0], checked
// as far as its header allows without decompressing.
func magicAt(b []byte) int {
	switch {
	case len(b) >= 18 && b[0] == 0x1f && b[1] == 0x8b && b[2] == 8 && b[3]&0xe0 == 0:
		return fmtGzip
	case len(b) >= 3 && b[0] == 0x78 && (0x7800|uint16(b[1]))%31 == 0 && b[1]&0x20 == 0 && b[2]>>1&3 != 3:
		return fmtZlib // what zlib, Python, node and Go write by default: deflate, 32 KiB window, no dictionary
	case len(b) >= 10 && string(b[:3]) == "BZh" && b[3] >= '1' && b[3] <= '9' && string(b[4:10]) == "1AY&SY":
		return fmtBzip2
	case len(b) >= 30 && string(b[:4]) == "PK\x03\x04" && b[6]&1 == 0:
		if m := binary.LittleEndian.Uint16(b[8:]); m == 0 || m == 8 || m == 12 {
			return fmtZip // stored, deflate or bzip2, not encrypted
		}
	}
	return fmtNone
}

// span is a base64 or hex run: b[start:end], n characters without line breaks.
type span struct {
	start, end, n int
	hex           bool
}

// candidates returns the offsets of compression magics in b and, with runs,
// its longest base64 and hex runs of at least packRun characters. A line
// break inside a run does not end it.
func candidates(b []byte, runs bool) (magics []int, spans []span) {
	for _, m := range []string{"\x1f\x8b\x08", "x", "BZh", "PK\x03\x04"} {
		n := 0
		for off := 0; n < packMagics; {
			j := bytes.Index(b[off:], []byte(m))
			if j < 0 {
				break
			}
			if magicAt(b[off+j:]) != fmtNone {
				magics = append(magics, off+j)
				n++
			}
			off += j + 1
		}
	}
	slices.Sort(magics)
	magics = magics[:min(len(magics), packMagics)]
	if !runs {
		return magics, nil
	}
	// A run of packRun characters covers every window of packRun bytes it
	// starts in: look at the last byte of the window only, and where it is in
	// a run, find the run's ends. Text is crossed a word at a time.
	const in = isB64 | isBreak
	for i := 0; i+packRun <= len(b); {
		p := i + packRun - 1
		if classes[b[p]]&in == 0 {
			i = p + 1
			continue
		}
		s, e := p, p+1
		for s > i && classes[b[s-1]]&in != 0 {
			s--
		}
		for e < len(b) && classes[b[e]]&in != 0 {
			e++
		}
		spans = appendRuns(spans, b, s, e)
		i = e + 1
	}
	if len(spans) > packRuns {
		slices.SortStableFunc(spans, func(x, y span) int { return y.n - x.n })
		spans = spans[:packRuns]
	}
	return magics, spans
}

// appendRuns appends b[s:e] (base64 characters and line breaks) when it has
// packRun characters, and the hex runs inside it.
func appendRuns(spans []span, b []byte, s, e int) []span {
	n, hx := 0, span{hex: true}
	for i := s; i < e; i++ {
		cl := classes[b[i]]
		if cl&isBreak != 0 {
			continue
		}
		n++
		if cl&isHex == 0 {
			if hx.n >= packRun {
				spans = append(spans, hx)
			}
			hx.n = 0
			continue
		}
		if hx.n == 0 {
			hx.start = i
		}
		hx.n, hx.end = hx.n+1, i+1
	}
	if hx.n >= packRun {
		spans = append(spans, hx)
	}
	if n >= packRun {
		spans = append(spans, span{s, e, n, false})
	}
	return spans
}

// unpacker is one packed search: the canaries not found yet and the budgets.
type unpacker struct {
	m       *matcher
	at      []int // per canary, as locate returns
	left    int   // canaries not found yet
	inflate int   // bytes that may still be inflated
	decode  int   // bytes that may still be decoded
	tries   int   // streams opened
}

func (u *unpacker) done() bool {
	return u.left == 0 || u.inflate <= 0 || u.tries >= packTries
}

// search looks for canaries inside the compressed streams of b, which is depth
// streams deep; origin is the offset in the top buffer that b came from (-1 for
// the top buffer itself). With runs, base64 and hex runs of b are decoded and
// searched for streams too.
func (u *unpacker) search(b []byte, depth, origin int, runs bool) {
	if depth >= packDepth {
		return
	}
	magics, spans := candidates(b, runs)
	end := 0 // input consumed by the last stream: magics inside it are its own bytes
	for _, p := range magics {
		if u.done() {
			return
		}
		if p < end {
			continue
		}
		o := origin
		if o < 0 {
			o = p
		}
		if n := u.unpack(b[p:], depth, o); n > 0 {
			end = p + n
		}
	}
	for _, s := range spans {
		if u.done() || u.decode <= 0 {
			return
		}
		o := origin
		if o < 0 {
			o = s.start
		}
		u.decodeRun(b[s.start:s.end], s.hex, func(d []byte) { u.search(d, depth, o, false) })
	}
}

// decodeRun decodes a base64 (either alphabet, mixed is tolerated) or hex run
// at every alignment and passes each result to f.
func (u *unpacker) decodeRun(r []byte, hx bool, f func([]byte)) {
	c := make([]byte, 0, len(r))
	for _, ch := range r {
		switch ch {
		case '\r', '\n':
		case '-':
			c = append(c, '+')
		case '_':
			c = append(c, '/')
		default:
			c = append(c, ch)
		}
	}
	dst := make([]byte, len(c))
	aligns := 4
	if hx {
		aligns = 2
	}
	for off := 0; off < aligns && off < len(c) && u.decode > 0 && !u.done(); off++ {
		src := c[off:]
		var n int
		if hx {
			n, _ = hex.Decode(dst, src[:len(src)/2*2])
		} else {
			k := len(src)
			if k%4 == 1 {
				k--
			}
			n, _ = base64.RawStdEncoding.Decode(dst, src[:k])
		}
		u.decode -= n
		f(dst[:n])
	}
}

// unpack inflates the stream at the start of b, records the canaries in its
// output and searches the output in turn. It returns how much of b the stream
// took (0 when it would not open).
func (u *unpacker) unpack(b []byte, depth, origin int) int {
	out, used := u.inflateAt(b)
	if len(out) == 0 {
		return used
	}
	u.record(out, origin)
	if !u.done() {
		u.search(out, depth+1, origin, true)
	}
	return used
}

// record marks the canaries whose key appears in b as found at origin.
func (u *unpacker) record(b []byte, origin int) {
	before := slices.Clone(u.at)
	if u.m.scan(b, u.at) > 0 {
		for i, at := range before {
			if at < 0 && u.at[i] >= 0 {
				u.at[i] = origin
				u.left--
			}
		}
	}
}

// inflateAt decompresses what it can of the stream at the start of b, at most
// packStream bytes and what is left of the budget. A corrupt or truncated
// stream gives what decompressed before the error.
func (u *unpacker) inflateAt(b []byte) (out []byte, used int) {
	limit := min(packStream, u.inflate)
	if limit <= 0 {
		return nil, 0
	}
	u.tries++
	defer func() {
		// The decompressors are the standard library's; a panic on hostile input
		// would lose the whole report, so it costs only this stream.
		if recover() != nil {
			out, used = nil, 0
		}
	}()
	in := bytes.NewReader(b)
	var r io.Reader
	var err error
	switch magicAt(b) {
	case fmtGzip:
		r, err = gzip.NewReader(in)
	case fmtZlib:
		r, err = zlib.NewReader(in)
	case fmtBzip2:
		r = bzip2.NewReader(in)
	case fmtZip:
		r, in = zipMember(b)
	}
	if err != nil || r == nil {
		return nil, 0
	}
	out, _ = io.ReadAll(io.LimitReader(r, int64(limit)))
	u.inflate -= len(out)
	return out, len(b) - in.Len()
}

// zipMember opens the data of the zip member whose local header starts b; its
// reader is the second result (for the bytes used).
func zipMember(b []byte) (io.Reader, *bytes.Reader) {
	flags := binary.LittleEndian.Uint16(b[6:])
	method := binary.LittleEndian.Uint16(b[8:])
	size := int(binary.LittleEndian.Uint32(b[18:]))
	start := 30 + int(binary.LittleEndian.Uint16(b[26:])) + int(binary.LittleEndian.Uint16(b[28:]))
	if start > len(b) {
		return nil, bytes.NewReader(nil)
	}
	data := b[start:]
	if flags&8 == 0 && size > 0 && size <= len(data) {
		data = data[:size]
	}
	in := bytes.NewReader(b)
	in.Seek(int64(start), io.SeekStart)
	switch method {
	case 8:
		return flate.NewReader(in), in
	case 12:
		return bzip2.NewReader(in), in
	}
	return bytes.NewReader(data), bytes.NewReader(b[start+len(data):])
}
