package bundle

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"io"
)

// counter counts the bytes read through it and refuses past max.
type counter struct {
	r    io.Reader
	n    int64
	max  int64
	over func() error
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n > c.max {
		return n, c.over()
	}
	return n, err
}

// tar extracts a tar or gzipped tar stream. Every byte of the input is read,
// including what follows the tar's end, so gzip's checksum is verified and
// trailing data is bounded by the same limits.
func (x *extractor) tar(r io.Reader, gz bool) error {
	comp := &counter{r: r, max: x.lim.MaxCompressed, over: func() error {
		return refuse(RuleCompressedSize, "", "archive larger than %s", human(x.lim.MaxCompressed))
	}}
	defer func() { x.res.Compressed = comp.n }()
	var src io.Reader = comp
	if gz {
		zr, err := gzip.NewReader(comp)
		if err != nil {
			return corrupt(err)
		}
		src = zr
	}
	stream := &counter{r: src, max: x.lim.streamCap(), over: func() error {
		return refuse(RuleExpandedSize, "", "contents larger than %s in total", human(x.lim.MaxExpanded))
	}}
	x.ratioChk = func() error {
		if stream.n > x.lim.MaxRatio*comp.n+ratioSlack {
			return refuse(RuleRatio, "", "archive expands more than %d:1", x.lim.MaxRatio)
		}
		return nil
	}
	tr := tar.NewReader(stream)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		} else if err != nil {
			return corrupt(err)
		}
		if err := x.tarEntry(tr, hdr); err != nil {
			return err
		}
		if err := x.ratioChk(); err != nil {
			return err
		}
	}
	// Drain: gzip verifies its checksum only at the end of the stream.
	for {
		_, err := stream.Read(x.buf)
		if err == io.EOF {
			break
		} else if err != nil {
			return corrupt(err)
		}
		if err := x.ratioChk(); err != nil {
			return err
		}
	}
	return nil
}

func (x *extractor) tarEntry(tr *tar.Reader, hdr *tar.Header) error {
	name := hdr.Name
	switch hdr.Typeflag {
	case tar.TypeXGlobalHeader:
		return nil // PAX global header: metadata only
	}
	if err := x.countEntry(name); err != nil {
		return err
	}
	switch hdr.Typeflag {
	case tar.TypeSymlink:
		return refuse(RuleSymlink, name, "symbolic links are not allowed (target %s)", quote(hdr.Linkname))
	case tar.TypeLink:
		return refuse(RuleHardlink, name, "hard links are not allowed (target %s)", quote(hdr.Linkname))
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		return refuse(RuleSpecialFile, name, "device files and FIFOs are not allowed")
	case tar.TypeDir, tar.TypeReg, tar.TypeRegA:
	default:
		return refuse(RuleSpecialFile, name, "unsupported entry type %q", hdr.Typeflag)
	}
	if hdr.Mode&0o7000 != 0 {
		return refuse(RuleSetuid, name, "setuid, setgid and sticky bits are not allowed")
	}
	if hdr.Typeflag == tar.TypeDir {
		return x.dir(name)
	}
	return x.file(name, hdr.Mode&0o111 != 0, tr, 0)
}

// corrupt turns an error reading the archive into a RuleCorrupt refusal,
// keeping refusals and context errors as they are. Errors from the reader
// given to Extract are reported the same way: to the publisher, an upload cut
// short is a truncated archive.
func corrupt(err error) error {
	var ref *Refusal
	if errors.As(err, &ref) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return &readError{refuse(RuleCorrupt, "", "archive is truncated or malformed"), err}
}

// readError is a corrupt-archive refusal that keeps its cause for logs.
type readError struct {
	*Refusal
	cause error
}

func (e *readError) Unwrap() []error { return []error{e.Refusal, e.cause} }
