package bundle

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// zip spools r to a temporary file next to the destination (archive/zip needs
// random access), enforcing MaxCompressed on the bytes copied, then extracts
// it. Limits are enforced on the bytes each entry actually decompresses to;
// archive/zip additionally fails an entry whose data is longer or shorter
// than its declared size or whose CRC-32 is wrong.
func (x *extractor) zip(r io.Reader, dir string) error {
	spool, err := os.CreateTemp(dir, TempPrefix+"*.zip")
	if err != nil {
		return fmt.Errorf("create spool file: %w", err)
	}
	defer func() {
		spool.Close()
		os.Remove(spool.Name())
	}()
	n, err := io.Copy(spool, io.LimitReader(r, x.lim.MaxCompressed+1))
	x.res.Compressed = n
	if err != nil {
		return corrupt(err)
	}
	if n > x.lim.MaxCompressed {
		return refuse(RuleCompressedSize, "", "archive larger than %s", human(x.lim.MaxCompressed))
	}
	zr, err := zip.NewReader(spool, n)
	if err != nil {
		return corrupt(err)
	}
	if len(zr.File) > x.lim.MaxFiles {
		return refuse(RuleFileCount, "", "more than %d entries", x.lim.MaxFiles)
	}
	// Overall ratio: everything written against the archive's size.
	x.ratioChk = func() error {
		if x.res.Expanded > x.lim.MaxRatio*n+ratioSlack {
			return refuse(RuleRatio, "", "archive expands more than %d:1", x.lim.MaxRatio)
		}
		return nil
	}
	for _, f := range zr.File {
		if err := x.zipEntry(f); err != nil {
			return err
		}
	}
	return nil
}

func (x *extractor) zipEntry(f *zip.File) error {
	name := f.Name
	if err := x.countEntry(name); err != nil {
		return err
	}
	if f.Flags&0x1 != 0 {
		return refuse(RuleEncrypted, name, "encrypted entries are not allowed")
	}
	mode := f.Mode()
	switch {
	case mode&fs.ModeSymlink != 0:
		return refuse(RuleSymlink, name, "symbolic links are not allowed")
	case mode&(fs.ModeDevice|fs.ModeCharDevice|fs.ModeNamedPipe|fs.ModeSocket|fs.ModeIrregular) != 0:
		return refuse(RuleSpecialFile, name, "device files and FIFOs are not allowed")
	case mode&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != 0:
		return refuse(RuleSetuid, name, "setuid, setgid and sticky bits are not allowed")
	}
	if mode.IsDir() || (len(name) > 0 && name[len(name)-1] == '/') {
		return x.dir(name)
	}
	if f.Method != zip.Store && f.Method != zip.Deflate {
		return refuse(RuleCompression, name, "compression method %d is not supported (only store and deflate)", f.Method)
	}
	rc, err := f.Open()
	if err != nil {
		return zipReadError(name, err)
	}
	defer rc.Close()
	// The decompressor reads at most CompressedSize64 bytes (a section of
	// the spooled file), so the declared compressed size bounds the input.
	entryCap := x.lim.MaxRatio*int64(min(f.CompressedSize64, uint64(x.res.Compressed))) + ratioSlack
	return x.file(name, mode&0o111 != 0, &zipEntryReader{rc, name}, entryCap)
}

// zipEntryReader maps archive/zip's read errors to refusals naming the entry.
type zipEntryReader struct {
	r    io.Reader
	name string
}

func (z *zipEntryReader) Read(p []byte) (int, error) {
	n, err := z.r.Read(p)
	if err != nil && err != io.EOF {
		err = zipReadError(z.name, err)
	}
	return n, err
}

func zipReadError(name string, err error) error {
	switch {
	case errors.Is(err, zip.ErrAlgorithm):
		return refuse(RuleCompression, name, "compression method is not supported (only store and deflate)")
	case errors.Is(err, zip.ErrFormat), errors.Is(err, io.ErrUnexpectedEOF):
		// archive/zip reports data longer than declared as ErrFormat and
		// shorter as ErrUnexpectedEOF.
		return &readError{refuse(RuleSizeMismatch, name, "entry data does not match its declared size"), err}
	case errors.Is(err, zip.ErrChecksum):
		return &readError{refuse(RuleCorrupt, name, "entry checksum mismatch"), err}
	}
	return corrupt(err)
}
