// Package fence holds the dependency-fence tests: which packages may import
// what, and that the binaries build without cgo. It has no code of its own.
package fence
