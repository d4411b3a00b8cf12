package bundle

import (
	"io/fs"
	"os"
)

// renameCheck renames oldpath to newpath after checking newpath is absent:
// the fallback where an atomic no-replace rename is unavailable.
func renameCheck(oldpath, newpath string) error {
	if _, err := os.Lstat(newpath); err == nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: fs.ErrExist}
	}
	return os.Rename(oldpath, newpath)
}
