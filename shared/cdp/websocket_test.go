package cdp

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// serveWS accepts one WebSocket connection on ln and hands the raw
// connection to fn after the handshake (a stand-in for Chromium's end).
func serveWS(t *testing.T, fn func(c net.Conn, br *bufio.Reader)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		sum := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + wsGUID))
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "+
			base64.StdEncoding.EncodeToString(sum[:])+"\r\n\r\n")
		fn(c, br)
	}()
	return "ws://" + ln.Addr().String() + "/devtools/page/x"
}

// serverFrame is an unmasked frame, as a server sends it.
func serverFrame(fin bool, op byte, p []byte) []byte {
	b := []byte{op}
	if fin {
		b[0] |= 0x80
	}
	switch {
	case len(p) < 126:
		b = append(b, byte(len(p)))
	case len(p) <= 0xFFFF:
		b = append(b, 126)
		b = binary.BigEndian.AppendUint16(b, uint16(len(p)))
	default:
		b = append(b, 127)
		b = binary.BigEndian.AppendUint64(b, uint64(len(p)))
	}
	return append(b, p...)
}

// readClientFrame reads one masked frame and unmasks it.
func readClientFrame(br *bufio.Reader) (op byte, p []byte, err error) {
	var h [2]byte
	if _, err = io.ReadFull(br, h[:]); err != nil {
		return
	}
	if h[1]&0x80 == 0 {
		return 0, nil, io.ErrUnexpectedEOF // unmasked: a protocol error
	}
	n := uint64(h[1] & 0x7F)
	switch n {
	case 126:
		var b [2]byte
		io.ReadFull(br, b[:])
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		io.ReadFull(br, b[:])
		n = binary.BigEndian.Uint64(b[:])
	}
	var mask [4]byte
	io.ReadFull(br, mask[:])
	p = make([]byte, n)
	if _, err = io.ReadFull(br, p); err != nil {
		return
	}
	for i := range p {
		p[i] ^= mask[i%4]
	}
	return h[0] & 0x0F, p, nil
}

func TestWebSocket(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 70_000) // needs the 64-bit length
	pong := make(chan string, 1)
	url := serveWS(t, func(c net.Conn, br *bufio.Reader) {
		for _, size := range []int{5, 300, len(big)} {
			op, p, err := readClientFrame(br)
			if err != nil || op != opText || len(p) != size {
				return
			}
			// Echo it in two fragments with a ping between them.
			c.Write(serverFrame(false, opText, p[:size/2]))
			c.Write(serverFrame(true, opPing, []byte("hi")))
			c.Write(serverFrame(true, opContinuation, p[size/2:]))
			if op, p, _ := readClientFrame(br); op == opPong {
				pong <- string(p)
			}
		}
		c.Write(serverFrame(true, opClose, nil))
	})
	ws, err := dialWS(url)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	for _, msg := range [][]byte{[]byte("hello"), bytes.Repeat([]byte("y"), 300), big} {
		if err := ws.WriteText(msg); err != nil {
			t.Fatal(err)
		}
		got, err := ws.ReadMessage()
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("echo of %d bytes: got %d bytes, %v", len(msg), len(got), err)
		}
		if p := <-pong; p != "hi" {
			t.Fatalf("pong %q, want the ping's payload", p)
		}
	}
	if _, err := ws.ReadMessage(); err != io.EOF {
		t.Fatalf("after a close frame: %v, want io.EOF", err)
	}
}

func TestDialWS_ErrHandshake(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		http.ReadRequest(bufio.NewReader(c))
		io.WriteString(c, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
	}()
	if _, err := dialWS("ws://" + ln.Addr().String() + "/"); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("dial: %v, want a refused handshake", err)
	}
	if _, err := dialWS("http://example.com/"); err == nil {
		t.Fatal("dial of an http URL: no error")
	}
}
