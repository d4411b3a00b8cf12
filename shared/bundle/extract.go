package bundle

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/openagents/trust/shared/trust"
)

// TempPrefix starts the name of every temporary directory and spool file
// Extract creates next to its destination; Sweep removes stale ones.
const TempPrefix = ".bundle-tmp-"

// Entry is one extracted file or directory.
type Entry struct {
	Path string      // slash-separated, relative to the destination
	Dir  bool        // a directory
	Size int64       // bytes written; 0 for directories
	Mode fs.FileMode // 0644, or 0755 for directories and executable files
}

// Result describes a completed extraction.
type Result struct {
	Format     Format
	Compressed int64   // archive bytes read
	Expanded   int64   // file content bytes written
	Files      int     // regular files
	Dirs       int     // directories, explicit or implied
	Entries    []Entry // in archive order, implied parent directories first
}

// Extract reads an archive of the given format (FormatAuto to detect it from
// magic bytes) from r and extracts it to dst, which must not exist and whose
// parent must. The archive is extracted into a temporary directory next to
// dst (named with TempPrefix), synced, and renamed to dst; on any error the
// temporary directory is removed and dst is not created.
//
// Files are created with mode 0644, or 0755 if the archive gives them any
// executable bit; directories 0755. Nothing already on disk is followed or
// overwritten.
//
// Errors: EINVALID (a *Refusal, see RuleOf) when the archive breaks a rule;
// ECONFLICT when dst exists; others are I/O failures or ctx's error.
func Extract(ctx context.Context, r io.Reader, format Format, dst string, lim Limits) (*Result, error) {
	lim = lim.withDefaults()
	if format == FormatAuto {
		br := bufio.NewReaderSize(r, SniffLen)
		head, _ := br.Peek(SniffLen)
		if format = DetectFormat(head); format == FormatUnknown {
			return nil, refuse(RuleFormat, "", "not a .tar.gz, .tar or .zip archive")
		}
		r = br
	}
	switch format {
	case FormatTar, FormatTarGz, FormatZip:
	default:
		return nil, refuse(RuleFormat, "", "unsupported archive format %s", format)
	}

	dst = filepath.Clean(dst)
	if _, err := os.Lstat(dst); err == nil {
		return nil, trust.Errorf(trust.ECONFLICT, "extract: destination already exists")
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("check destination: %w", err)
	}
	parent := filepath.Dir(dst)
	tmp, err := os.MkdirTemp(parent, TempPrefix+"*")
	if err != nil {
		return nil, fmt.Errorf("create temporary directory: %w", err)
	}
	res, err := extractInto(ctx, r, format, tmp, parent, lim)
	if err == nil {
		err = commit(tmp, dst)
	}
	if err != nil {
		if rerr := os.RemoveAll(tmp); rerr != nil {
			err = errors.Join(err, fmt.Errorf("remove temporary directory: %w", rerr))
		}
		return nil, err
	}
	return res, nil
}

func extractInto(ctx context.Context, r io.Reader, format Format, tmp, parent string, lim Limits) (*Result, error) {
	root, err := os.OpenRoot(tmp)
	if err != nil {
		return nil, fmt.Errorf("open temporary directory: %w", err)
	}
	defer root.Close()
	x := &extractor{ctx: ctx, root: root, lim: lim, tree: newTree(), res: &Result{Format: format}, buf: make([]byte, 32<<10)}
	switch format {
	case FormatZip:
		err = x.zip(r, parent)
	default:
		err = x.tar(r, format == FormatTarGz)
	}
	if err != nil {
		return nil, err
	}
	if err := x.syncDirs(); err != nil {
		return nil, err
	}
	return x.res, nil
}

// commit makes tmp world-readable and renames it to dst, refusing to replace
// anything, then syncs dst's parent so the rename is durable.
func commit(tmp, dst string) error {
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("chmod temporary directory: %w", err)
	}
	if err := renameNoReplace(tmp, dst); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return trust.Errorf(trust.ECONFLICT, "extract: destination already exists")
		}
		return fmt.Errorf("rename into place: %w", err)
	}
	return syncDir(filepath.Dir(dst))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory to sync: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	return nil
}

// Sweep removes the temporary directories and spool files that Extract left
// in parent when a process died mid-way, if last modified more than olderThan
// ago. It returns how many it removed.
func Sweep(parent string, olderThan time.Duration) (int, error) {
	des, err := os.ReadDir(parent)
	if err != nil {
		return 0, fmt.Errorf("read directory: %w", err)
	}
	cutoff := time.Now().Add(-olderThan)
	n := 0
	var errs []error
	for _, de := range des {
		if !strings.HasPrefix(de.Name(), TempPrefix) {
			continue
		}
		fi, err := de.Info()
		if err != nil || !fi.ModTime().Before(cutoff) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(parent, de.Name())); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", de.Name(), err))
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// extractor writes entries below root, enforcing the limits.
type extractor struct {
	ctx      context.Context
	root     *os.Root
	lim      Limits
	tree     *tree
	res      *Result
	dirs     []string // created directories, to sync
	entries  int
	buf      []byte
	ratioChk func() error // overall ratio check for streams; may be nil
}

// countEntry counts one archive entry against MaxFiles.
func (x *extractor) countEntry(name string) error {
	if err := x.ctx.Err(); err != nil {
		return err
	}
	x.entries++
	if x.entries > x.lim.MaxFiles {
		return refuse(RuleFileCount, name, "more than %d entries", x.lim.MaxFiles)
	}
	return nil
}

// mkdirs creates the directories p (already recorded in the tree).
func (x *extractor) mkdirs(dirs []string) error {
	for _, d := range dirs {
		if err := x.root.Mkdir(d, 0o755); err != nil {
			return fmt.Errorf("create directory: %w", err)
		}
		if err := x.root.Chmod(d, 0o755); err != nil {
			return fmt.Errorf("chmod directory: %w", err)
		}
		x.dirs = append(x.dirs, d)
		x.res.Dirs++
		x.res.Entries = append(x.res.Entries, Entry{Path: d, Dir: true, Mode: 0o755})
	}
	return nil
}

// dir extracts a directory entry.
func (x *extractor) dir(name string) error {
	p, err := cleanName(name, x.lim)
	if err != nil || p == "" {
		return err
	}
	dirs, err := x.tree.add(name, p, true)
	if err != nil {
		return err
	}
	return x.mkdirs(dirs)
}

// file extracts a regular file entry from src. entryRatio, if positive, is
// the most bytes the entry may expand to under the per-entry ratio rule.
func (x *extractor) file(name string, exec bool, src io.Reader, entryCap int64) error {
	p, err := cleanName(name, x.lim)
	if err != nil {
		return err
	}
	if p == "" {
		return refuse(RulePathInvalid, name, "file has no name")
	}
	dirs, err := x.tree.add(name, p, false)
	if err != nil {
		return err
	}
	if i := strings.LastIndexByte(p, '/'); i >= 0 && len(dirs) > 0 {
		if err := x.mkdirs(dirs); err != nil {
			return err
		}
	}
	mode := fs.FileMode(0o644)
	if exec {
		mode = 0o755
	}
	f, err := x.root.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create file: %w", err)
	}
	n, err := x.copy(f, src, name, entryCap)
	if err == nil {
		err = f.Chmod(mode)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close file: %w", cerr)
	}
	if err != nil {
		return err
	}
	x.res.Files++
	x.res.Entries = append(x.res.Entries, Entry{Path: p, Size: n, Mode: mode})
	return nil
}

// copy copies src to f, refusing on the per-file, total, and ratio limits as
// soon as the bytes read cross them.
func (x *extractor) copy(f *os.File, src io.Reader, name string, entryCap int64) (int64, error) {
	var n int64
	for {
		if err := x.ctx.Err(); err != nil {
			return n, err
		}
		m, rerr := src.Read(x.buf)
		if m > 0 {
			n += int64(m)
			x.res.Expanded += int64(m)
			switch {
			case n > x.lim.MaxFileSize:
				return n, refuse(RuleFileSize, name, "file larger than %s", human(x.lim.MaxFileSize))
			case x.res.Expanded > x.lim.MaxExpanded:
				return n, refuse(RuleExpandedSize, name, "contents larger than %s in total", human(x.lim.MaxExpanded))
			case entryCap > 0 && n > entryCap:
				return n, refuse(RuleRatio, name, "entry expands more than %d:1", x.lim.MaxRatio)
			}
			if x.ratioChk != nil {
				if err := x.ratioChk(); err != nil {
					return n, err
				}
			}
			if _, err := f.Write(x.buf[:m]); err != nil {
				return n, fmt.Errorf("write file: %w", err)
			}
		}
		if rerr == io.EOF {
			return n, nil
		} else if rerr != nil {
			return n, corrupt(rerr)
		}
	}
}

// syncDirs syncs every created directory and the root, deepest first.
func (x *extractor) syncDirs() error {
	for i := len(x.dirs) - 1; i >= -1; i-- {
		name := "."
		if i >= 0 {
			name = x.dirs[i]
		}
		d, err := x.root.Open(name)
		if err != nil {
			return fmt.Errorf("open directory to sync: %w", err)
		}
		err = d.Sync()
		d.Close()
		if err != nil {
			return fmt.Errorf("sync directory: %w", err)
		}
	}
	return nil
}
