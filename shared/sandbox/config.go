package sandbox

import "time"

// initConfig is what Detonate sends the sandbox init over a pipe.
type initConfig struct {
	Staging      string        `json:"staging"` // host directory holding skill/ and root/
	Entries      []Entry       `json:"entries"`
	Canaries     []Canary      `json:"canaries"`
	EntryTimeout time.Duration `json:"entry_timeout"`
	RunTimeout   time.Duration `json:"run_timeout"`
	Grace        time.Duration `json:"grace"`
	CPUSeconds   uint64        `json:"cpu_seconds"`
	MemoryBytes  uint64        `json:"memory_bytes"`
	MaxProcs     uint64        `json:"max_procs"`
	MaxFileSize  uint64        `json:"max_file_size"`
	MaxOutput    int           `json:"max_output"`
	TmpfsBytes   int64         `json:"tmpfs_bytes"`
	MaxEvents    int           `json:"max_events"`
	SkipSleeps   bool          `json:"skip_sleeps"`
	NodeOptions  string        `json:"node_options,omitempty"` // NODE_OPTIONS for the entries, when the host's node takes it

	// ca is created by the init inside the sandbox, never sent over the
	// config pipe: its key exists only in the init's memory.
	ca *interceptCA
}

// sandboxPath is the PATH entries see, and where interpreters are looked up.
var sandboxPath = []string{"/usr/local/bin", "/usr/bin", "/bin"}
