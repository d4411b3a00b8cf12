// Package edge wires the edge node: configuration from flags and environment,
// the SQLite catalog and the HTTP API. Main is the whole node, so end-to-end
// tests start the real thing in-process; cmd/trust-edge only adds signals and
// exit codes.
package edge

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/openagents/trust/edge/api"
	"github.com/openagents/trust/edge/litefs"
	"github.com/openagents/trust/edge/sqlite"
	"github.com/openagents/trust/shared/seal"
	"github.com/openagents/trust/shared/seal/vaulttransit"
	"github.com/openagents/trust/shared/trust"
)

// Defaults and environment variables of the configuration.
const (
	DefaultDataDir = ".trust"
	DefaultAddr    = "127.0.0.1:8080"

	EnvDataDir      = "TRUST_DATA_DIR"
	EnvAddr         = "TRUST_EDGE_ADDR"
	EnvServiceToken = "TRUST_SERVICE_TOKEN"

	// EnvKEKFile names the key-encryption key file that seals API keys
	// (shared/seal); without it the API-key routes answer 503.
	EnvKEKFile = "TRUST_KEK_FILE"

	// EnvKEKVault names the Vault Transit key that seals API keys and SSH
	// credentials in production (https://HOST[:PORT]/MOUNT/KEY); the Vault
	// token comes from VAULT_TOKEN. Exclusive with EnvKEKFile.
	EnvKEKVault = "TRUST_KEK_VAULT"

	// Replication on LiteFS (replication.go).
	EnvLiteFSURL   = "TRUST_LITEFS_URL"
	EnvPrimaryURLs = "TRUST_PRIMARY_URLS"
	EnvLiteFSPeers = "TRUST_LITEFS_PEERS"
	EnvMinReplicas = "TRUST_MIN_REPLICAS"
	EnvFlyReplay   = "TRUST_FLY_REPLAY"

	// MinServiceTokenLen is the shortest service credential accepted, in bytes.
	MinServiceTokenLen = 32

	// DefaultVersionPoll bounds how long a replica may serve a cached answer
	// after LiteFS applied a newer transaction underneath it: well inside the
	// replication lag (docs/BENCHMARKS.md §5) and the 2 s rotation target.
	DefaultVersionPoll = 5 * time.Millisecond

	// maxServiceTokenFile bounds what is read from -service-token-file.
	maxServiceTokenFile = 4 << 10
)

// Config is the edge node's configuration.
type Config struct {
	// DataDir holds the catalog, DataDir/catalog.db; it is created mode 0700.
	DataDir string

	// Addr is the HTTP listen address.
	Addr string

	// ServiceToken is the service credential. It is never printed: Config has
	// no String method that shows it, and errors about it name only its source.
	ServiceToken string

	// Replication is the LiteFS configuration; its zero value is a single
	// node on a plain file.
	Replication ReplicationConfig

	// VersionPoll is how often the read caches check the catalog for changes
	// committed elsewhere (LiteFS replication); writes through this node move
	// the version at once. Zero checks on every request. See sqlite.DB.VersionPoll.
	VersionPoll time.Duration

	// KEKFile is the key-encryption key that seals API keys: 32 random
	// bytes in base64, mode 0600. Empty leaves API keys unavailable.
	KEKFile string

	// KEKVault is the Vault Transit key (a KMS) that seals API keys and SSH
	// credentials instead of a file: https://HOST[:PORT]/MOUNT/KEY, with the
	// token VAULTToken (env VAULT_TOKEN, never a flag).
	KEKVault   string
	VAULTToken string

	// TokensPerHour is each Machine's usage limit (trust.DefaultTokensPerHour).
	TokensPerHour int64

	// Suspend configures stopping suspended Machines at the provider
	// (suspend.go); its zero value keeps suspension catalog-only.
	Suspend SuspendConfig
}

// DBPath returns the path of the catalog database.
func (c Config) DBPath() string { return filepath.Join(c.DataDir, "catalog.db") }

// Validate reports a configuration the node cannot start with.
func (c Config) Validate() error {
	if c.DataDir == "" {
		return fmt.Errorf("data directory required (-data-dir or %s)", EnvDataDir)
	} else if c.Addr == "" {
		return fmt.Errorf("listen address required (-addr or %s)", EnvAddr)
	} else if c.ServiceToken == "" {
		return fmt.Errorf("service credential required: set %s or pass -service-token-file", EnvServiceToken)
	} else if c.VersionPoll < 0 {
		return fmt.Errorf("-catalog-version-poll must not be negative")
	} else if len(c.ServiceToken) < MinServiceTokenLen {
		return fmt.Errorf("service credential too short: use at least %d characters (e.g. openssl rand -base64 32)", MinServiceTokenLen)
	}
	return nil
}

// Main is the edge node.
type Main struct {
	Config Config
	DB     *sqlite.DB
	Server *api.Server

	// LiteFS is the replication adapter, when Config.Replication enables it.
	LiteFS *litefs.Node

	// Logger receives the request log and the node's own events.
	Logger *slog.Logger

	// Getenv reads the environment (os.Getenv; tests replace it).
	Getenv func(string) string

	// Stderr receives flag usage.
	Stderr io.Writer
}

// NewMain returns a Main with the default configuration.
func NewMain() *Main {
	return &Main{
		Config: Config{DataDir: DefaultDataDir, Addr: DefaultAddr, Replication: ReplicationConfig{MinReplicas: 1}, VersionPoll: DefaultVersionPoll,
			TokensPerHour: trust.DefaultTokensPerHour},
		Logger: slog.Default(),
		Getenv: os.Getenv,
		Stderr: os.Stderr,
	}
}

// ParseFlags reads the configuration from the environment and then args; a flag
// wins over its variable. The service credential comes from TRUST_SERVICE_TOKEN
// or -service-token-file (not both). -h returns flag.ErrHelp.
func (m *Main) ParseFlags(ctx context.Context, args []string) error {
	if v := m.Getenv(EnvDataDir); v != "" {
		m.Config.DataDir = v
	}
	if v := m.Getenv(EnvAddr); v != "" {
		m.Config.Addr = v
	}
	if v := m.Getenv(EnvKEKFile); v != "" {
		m.Config.KEKFile = v
	}
	if v := m.Getenv(EnvKEKVault); v != "" {
		m.Config.KEKVault = v
	}
	m.Config.VAULTToken = m.Getenv("VAULT_TOKEN")
	m.suspendEnv() // suspend.go

	fs := flag.NewFlagSet("trust-edge", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	fs.StringVar(&m.Config.DataDir, "data-dir", m.Config.DataDir, "directory of the catalog database (env "+EnvDataDir+")")
	fs.StringVar(&m.Config.Addr, "addr", m.Config.Addr, "HTTP listen address (env "+EnvAddr+")")
	m.replicationFlags(fs)
	fs.DurationVar(&m.Config.VersionPoll, "catalog-version-poll", m.Config.VersionPoll, "how often cached reads check for replicated changes (0: on every request)")
	fs.StringVar(&m.Config.KEKFile, "kek-file", m.Config.KEKFile, "key-encryption key file sealing API keys (env "+EnvKEKFile+")")
	fs.StringVar(&m.Config.KEKVault, "kek-vault", m.Config.KEKVault, "Vault Transit key sealing API keys instead, https://HOST/MOUNT/KEY; token from VAULT_TOKEN (env "+EnvKEKVault+")")
	fs.Int64Var(&m.Config.TokensPerHour, "tokens-per-hour", m.Config.TokensPerHour, "usage limit of each Machine over the last hour")
	m.suspendFlags(fs)
	tokenFile := fs.String("service-token-file", "", "file holding the service credential (instead of env "+EnvServiceToken+")")
	if err := m.replicationEnv(); err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		return err
	} else if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}

	envToken := m.Getenv(EnvServiceToken)
	switch {
	case *tokenFile != "" && envToken != "":
		return fmt.Errorf("service credential given twice: use %s or -service-token-file, not both", EnvServiceToken)
	case *tokenFile != "":
		token, err := readTokenFile(*tokenFile)
		if err != nil {
			return err
		}
		m.Config.ServiceToken = token
	default:
		m.Config.ServiceToken = envToken
	}
	return m.Config.Validate()
}

// readTokenFile reads a credential file, without its surrounding whitespace.
func readTokenFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("read service credential file: %w", err)
	}
	defer f.Close()
	buf, err := io.ReadAll(io.LimitReader(f, maxServiceTokenFile+1))
	if err != nil {
		return "", fmt.Errorf("read service credential file %s: %w", path, err)
	} else if len(buf) > maxServiceTokenFile {
		return "", fmt.Errorf("service credential file %s is larger than %d bytes", path, maxServiceTokenFile)
	}
	token := strings.TrimSpace(string(buf))
	if strings.ContainsAny(token, "\r\n\t ") {
		return "", fmt.Errorf("service credential file %s must hold one token on one line", path)
	}
	return token, nil
}

// Run validates the configuration, opens the catalog (applying migrations) and
// starts the API. It returns once the node serves; Close stops it.
func (m *Main) Run(ctx context.Context) error {
	if err := m.Config.Validate(); err != nil {
		return err
	}
	if err := os.MkdirAll(m.Config.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}

	m.DB = sqlite.NewDB(m.Config.DBPath())
	m.DB.VersionPoll = m.Config.VersionPoll
	if err := m.openCatalog(ctx); err != nil {
		return err
	}

	m.Server = api.NewServer()
	m.Server.Addr = m.Config.Addr
	m.Server.Logger = m.Logger
	m.Server.ServiceToken = m.Config.ServiceToken
	m.Server.SkillVersionService = sqlite.NewSkillVersionService(m.DB)
	m.Server.SignatureService = sqlite.NewSignatureService(m.DB)
	m.Server.KeyService = sqlite.NewKeyService(m.DB)
	m.Server.MachineTokenService = sqlite.NewMachineTokenService(m.DB)
	m.Server.Tenancy = sqlite.NewTenancy(m.DB, m.Config.ServiceToken)
	m.Server.PublisherService = sqlite.NewPublisherService(m.DB)
	m.Server.SubmissionService = sqlite.NewSubmissionService(m.DB)
	m.Server.Replication = m.replication()
	if err := m.wireAPIKeys(); err != nil {
		return err
	}
	if err := m.Server.Open(); err != nil {
		return err
	}
	m.Logger.Info("edge node serving", "url", m.Server.URL(), "catalog", m.Config.DBPath())
	return nil
}

// wireAPIKeys gives the server the API-key services: sealing needs the KEK
// file (refused unless mode 0600); metering is always on, so a tenant
// without credits is refused.
func (m *Main) wireAPIKeys() error {
	var sealer *seal.Sealer
	switch {
	case m.Config.KEKFile != "" && m.Config.KEKVault != "":
		return fmt.Errorf("a key-encryption key file and a Vault Transit key were both given: use one")
	case m.Config.KEKFile != "":
		kek, err := seal.OpenFileKEK(m.Config.KEKFile)
		if err != nil {
			return err
		}
		sealer = seal.New(kek)
	case m.Config.KEKVault != "":
		kek, err := vaulttransit.New(m.Config.KEKVault, m.Config.VAULTToken, nil)
		if err != nil {
			return err
		}
		sealer = seal.New(kek)
	}
	m.Server.APIKeyService = sqlite.NewAPIKeyService(m.DB, sealer)
	m.Server.UserKeys = sqlite.NewUserKeyStore(sealer)
	if sealer != nil { // without a KEK every SSH route answers 503 (docs/ssh.md)
		m.Server.SSH = sqlite.NewSSHStore(sealer) // SSH credentials share the KEK
	}
	meter := sqlite.NewMeter(m.DB)
	meter.Logger = m.Logger
	if m.Config.TokensPerHour > 0 {
		meter.TokensPerHour = m.Config.TokensPerHour
	}
	susp, err := m.suspender() // suspend.go
	if err != nil {
		return err
	}
	meter.Suspender = susp
	m.Server.Meter = meter
	return nil
}

// Close stops the API, letting requests in flight finish, then closes the
// catalog.
func (m *Main) Close() error {
	var errs []error
	if m.Server != nil {
		errs = append(errs, m.Server.Close())
	}
	if m.DB != nil {
		errs = append(errs, m.DB.Close())
	}
	if m.LiteFS != nil {
		errs = append(errs, m.LiteFS.Close())
	}
	return errors.Join(errs...)
}
