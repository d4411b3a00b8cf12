package bundle

import "fmt"

// Default limits.
const (
	DefaultMaxCompressed = 10 << 20 // 10 MiB
	DefaultMaxExpanded   = 50 << 20 // 50 MiB
	DefaultMaxFileSize   = 10 << 20 // 10 MiB
	DefaultMaxFiles      = 2000
	DefaultMaxPathLen    = 1024
	DefaultMaxNameLen    = 255
	DefaultMaxDepth      = 32
	DefaultMaxRatio      = 100
)

// ratioSlack is how many expanded bytes are allowed beyond MaxRatio times the
// compressed bytes, so that small, highly compressible files (a page of
// spaces) are not refused. It applies to the whole archive and to each zip
// entry.
const ratioSlack = 1 << 20

// Limits caps what Extract accepts. A zero or negative field takes its
// default. All byte limits are enforced on bytes actually read or written,
// never on sizes an archive declares.
type Limits struct {
	MaxCompressed int64 // archive bytes read
	MaxExpanded   int64 // total bytes of file contents written
	MaxFileSize   int64 // bytes of one file
	MaxFiles      int   // entries (files and directories)
	MaxPathLen    int   // bytes of one path
	MaxNameLen    int   // bytes of one path component
	MaxDepth      int   // components of one path
	MaxRatio      int64 // expanded:compressed, overall and per zip entry
}

// DefaultLimits returns the default limits.
func DefaultLimits() Limits { return Limits{}.withDefaults() }

func (l Limits) withDefaults() Limits {
	def := func(v *int64, d int64) {
		if *v <= 0 {
			*v = d
		}
	}
	defi := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.MaxCompressed, DefaultMaxCompressed)
	def(&l.MaxExpanded, DefaultMaxExpanded)
	def(&l.MaxFileSize, DefaultMaxFileSize)
	defi(&l.MaxFiles, DefaultMaxFiles)
	defi(&l.MaxPathLen, DefaultMaxPathLen)
	defi(&l.MaxNameLen, DefaultMaxNameLen)
	defi(&l.MaxDepth, DefaultMaxDepth)
	def(&l.MaxRatio, DefaultMaxRatio)
	return l
}

// streamCap bounds the decompressed tar stream, headers and padding included:
// the content cap plus room for the headers of MaxFiles entries.
func (l Limits) streamCap() int64 {
	return l.MaxExpanded + int64(l.MaxFiles)*3*512 + ratioSlack
}

func human(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
