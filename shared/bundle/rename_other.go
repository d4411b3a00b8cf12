//go:build !linux

package bundle

func renameNoReplace(oldpath, newpath string) error { return renameCheck(oldpath, newpath) }
