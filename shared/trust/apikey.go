package trust

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// API keys (Layer 3): the platform's LLM API keys, versioned and sealed at
// rest; tenants' own keys, sealed per tenant; and the metering that spends a
// tenant's credits, limits each Machine's tokens per hour and suspends a
// Machine whose usage jumps far above its baseline.
//
// A raw key exists only in memory: in the request that stores it (sealed at
// once) and in the service-side injection that unseals it for a Machine's
// environment. No type here carries it in JSON, and no method returns it
// except the Unseal* ones.

// LLM providers whose keys the platform manages.
const (
	ProviderAnthropic = "anthropic"
	ProviderOpenAI    = "openai"
)

// Providers lists the providers, in a fixed order.
var Providers = []string{ProviderAnthropic, ProviderOpenAI}

// ValidProvider reports an unknown provider as EINVALID.
func ValidProvider(p string) error {
	for _, q := range Providers {
		if p == q {
			return nil
		}
	}
	return Errorf(EINVALID, "unknown provider: want anthropic or openai")
}

// States of a platform API-key version. Exactly one version per provider is
// active (handed to new Machines); the versions it replaced stay previous —
// still valid at the provider — until RetireAfter, and are then retired.
const (
	APIKeyActive   = "active"
	APIKeyPrevious = "previous"
	APIKeyRetired  = "retired"
)

// DefaultAPIKeyOverlap is how long a replaced version stays valid, so every
// running Machine sees the new version and switches before the old one dies.
const DefaultAPIKeyOverlap = 72 * time.Hour

// MaxAPIKeyOverlap bounds the overlap window.
const MaxAPIKeyOverlap = 90 * 24 * time.Hour

// MaxAPIKeySize bounds a raw API key.
const MaxAPIKeySize = 1 << 10

// periodPattern is the shape of a rotation period, e.g. "2026-11".
var periodPattern = NewPattern(`^[0-9]{4}-(0[1-9]|1[0-2])$`)

// APIKeyVersion is one version of a platform API key, without the key.
type APIKeyVersion struct {
	Provider    string     `json:"provider"`
	Version     int        `json:"version"`
	State       string     `json:"state"`
	Period      string     `json:"period,omitempty"` // the rotation month that created it, if any
	KEKID       string     `json:"kek_id"`           // which key-encryption key sealed it
	CreatedAt   time.Time  `json:"created_at"`
	ActivatedAt time.Time  `json:"activated_at"`
	RetireAfter *time.Time `json:"retire_after,omitempty"` // set when replaced
	RetiredAt   *time.Time `json:"retired_at,omitempty"`
}

// APIKeyVersionCreate is a new platform key version. Key is the raw key: it
// is sealed before anything is stored and never logged.
type APIKeyVersionCreate struct {
	Provider string
	Key      string
	// Period, when set ("2026-11"), makes creation idempotent per period: a
	// second create for the same provider and period returns the first.
	Period string
	// Overlap is how long the replaced active version stays valid
	// (DefaultAPIKeyOverlap when zero).
	Overlap time.Duration
}

// Validate reports a bad request as EINVALID, naming no part of the key.
func (c *APIKeyVersionCreate) Validate() error {
	if err := ValidProvider(c.Provider); err != nil {
		return err
	}
	if err := ValidRawKey(c.Key); err != nil {
		return err
	}
	if c.Period != "" && !periodPattern.MatchString(c.Period) {
		return Errorf(EINVALID, "invalid period: want YYYY-MM")
	} else if c.Overlap < 0 || c.Overlap > MaxAPIKeyOverlap {
		return Errorf(EINVALID, "overlap must be between 0 and 90 days")
	}
	return nil
}

// ValidRawKey reports an empty, oversized or non-printable key as EINVALID.
// The message never quotes the key.
func ValidRawKey(key string) error {
	if key == "" {
		return Errorf(EINVALID, "key required")
	} else if len(key) > MaxAPIKeySize {
		return Errorf(EINVALID, "key longer than %d bytes", MaxAPIKeySize)
	}
	for i := 0; i < len(key); i++ {
		if key[i] <= 0x20 || key[i] >= 0x7f {
			return Errorf(EINVALID, "key must be printable ASCII without spaces")
		}
	}
	return nil
}

// APIKeyService manages the platform's key versions. It is the service role:
// only the edge's service routes and the provisioning side reach it.
type APIKeyService interface {
	// CreateAPIKeyVersion seals the key, stores it as the next version and
	// makes it active; the version it replaces becomes previous with
	// RetireAfter = now + Overlap. created=false when Period already has a
	// version (returned, nothing changed). EINVALID for bad fields,
	// EUNAVAILABLE when no key-encryption key is configured.
	CreateAPIKeyVersion(ctx context.Context, c *APIKeyVersionCreate) (v *APIKeyVersion, created bool, err error)

	// FindAPIKeyVersions returns a provider's versions, newest first.
	// EINVALID for an unknown provider.
	FindAPIKeyVersions(ctx context.Context, provider string) ([]*APIKeyVersion, error)

	// FindCurrentAPIKeyVersion returns the active version. ENOTFOUND when the
	// provider has none.
	FindCurrentAPIKeyVersion(ctx context.Context, provider string) (*APIKeyVersion, error)

	// RetireAPIKeyVersions retires the provider's previous versions whose
	// RetireAfter has passed and returns them. EINVALID for an unknown provider.
	RetireAPIKeyVersions(ctx context.Context, provider string) ([]*APIKeyVersion, error)

	// UnsealCurrentKey returns the active version and its raw key, for
	// injection into a Machine's environment. The key must stay in memory.
	// ENOTFOUND when the provider has no active version; EINTERNAL (logged,
	// never shown) when the blob does not open.
	UnsealCurrentKey(ctx context.Context, provider string) (version int, key string, err error)

	// StageAPIKey seals the key an operator prepared for a provider's next
	// rotation and stores it as the provider's one staged key, replacing any
	// earlier one. It returns the staged key's record (a fingerprint, never
	// the key). EINVALID for bad fields, ECONFLICT when the key is the
	// active one already, EUNAVAILABLE when no key-encryption key is
	// configured.
	StageAPIKey(ctx context.Context, s *APIKeyStage) (*StagedAPIKey, error)

	// FindStagedAPIKey returns the provider's staged key record. ENOTFOUND
	// when nothing is staged.
	FindStagedAPIKey(ctx context.Context, provider string) (*StagedAPIKey, error)

	// PromoteStagedAPIKey is the monthly rotation, in one transaction: the
	// staged key becomes the next active version for Period (re-sealed for
	// that version), the version it replaces becomes previous with
	// RetireAfter = now + Overlap, and the staged key is removed. created=false
	// when Period already has a version (returned; the staged key stays).
	// ECONFLICT when nothing is staged or the staged key is the active one,
	// EINVALID for bad fields, EUNAVAILABLE without a key-encryption key.
	PromoteStagedAPIKey(ctx context.Context, p *APIKeyPromote) (v *APIKeyVersion, created bool, err error)
}

// StagedAPIKey is the record of a key staged for the next rotation, without
// the key. Fingerprint identifies the key (so operators can check which one
// is staged) without revealing it.
type StagedAPIKey struct {
	Provider    string    `json:"provider"`
	Fingerprint string    `json:"fingerprint"`
	KEKID       string    `json:"kek_id"`
	StagedBy    string    `json:"staged_by"`
	StagedAt    time.Time `json:"staged_at"`
}

// MaxStagedByLen bounds the operator label of a staged key.
const MaxStagedByLen = 100

// APIKeyStage is a key to stage. Key is the raw key: it is sealed before
// anything is stored and never logged. StagedBy labels the operator.
type APIKeyStage struct {
	Provider string
	Key      string
	StagedBy string
}

// Validate reports a bad request as EINVALID, naming no part of the key.
func (s *APIKeyStage) Validate() error {
	if err := ValidProvider(s.Provider); err != nil {
		return err
	} else if err := ValidRawKey(s.Key); err != nil {
		return err
	} else if s.StagedBy == "" || len(s.StagedBy) > MaxStagedByLen {
		return Errorf(EINVALID, "staged_by must be 1 to %d characters", MaxStagedByLen)
	}
	for _, r := range s.StagedBy {
		if r < 0x20 || r == 0x7f {
			return Errorf(EINVALID, "staged_by must not contain control characters")
		}
	}
	return nil
}

// APIKeyPromote asks to promote a provider's staged key for a period.
type APIKeyPromote struct {
	Provider string
	Period   string // required, "2026-11"
	// Overlap is how long the replaced active version stays valid
	// (DefaultAPIKeyOverlap when zero).
	Overlap time.Duration
}

// Validate reports a bad request as EINVALID.
func (p *APIKeyPromote) Validate() error {
	if err := ValidProvider(p.Provider); err != nil {
		return err
	} else if !periodPattern.MatchString(p.Period) {
		return Errorf(EINVALID, "invalid period: want YYYY-MM")
	} else if p.Overlap < 0 || p.Overlap > MaxAPIKeyOverlap {
		return Errorf(EINVALID, "overlap must be between 0 and 90 days")
	}
	return nil
}

// APIKeyFingerprint identifies a raw key without revealing it: "sha256:"
// and the first 16 hex digits of its SHA-256. Provider keys carry far more
// than 64 bits of entropy, so the fingerprint cannot be reversed or guessed.
func APIKeyFingerprint(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "sha256:" + hex.EncodeToString(sum[:8])
}

// UserAPIKey is a tenant's own key for a provider, without the key.
type UserAPIKey struct {
	TenantID  string    `json:"tenant_id"`
	Provider  string    `json:"provider"`
	Version   int       `json:"version"` // moves on every replacement, never reused
	KEKID     string    `json:"kek_id"`
	CreatedBy string    `json:"created_by"`
	UpdatedAt time.Time `json:"updated_at"`
}

// UserKeyStore stores tenants' own keys. Storing goes through a tenant handle
// (the tenant is the handle's); unsealing is the service role's.
type UserKeyStore interface {
	// PutUserAPIKey seals key for the handle's tenant (the tenant is part of
	// the sealed context) and stores it, replacing the tenant's key for the
	// provider. EINVALID for bad fields, EFORBIDDEN for a Machine principal,
	// EUNAVAILABLE without a key-encryption key.
	PutUserAPIKey(ctx context.Context, ts TenantStore, provider, key string) (*UserAPIKey, error)

	// FindUserAPIKeys returns the handle's tenant's keys, without secrets.
	FindUserAPIKeys(ctx context.Context, ts TenantStore) ([]*UserAPIKey, error)

	// DeleteUserAPIKey removes the tenant's key for a provider; its version
	// number is never reused, so a Machine always sees a change. ENOTFOUND if
	// the tenant has none.
	DeleteUserAPIKey(ctx context.Context, ts TenantStore, provider string) error

	// UnsealUserKey returns a tenant's raw key for injection into that
	// tenant's Machines. Service role only. ENOTFOUND if the tenant has none.
	UnsealUserKey(ctx context.Context, svc ServiceStore, tenantID, provider string) (*UserAPIKey, string, error)
}

// CreditAccount is a tenant's balance of credits. One credit is one token.
type CreditAccount struct {
	TenantID  string    `json:"tenant_id"`
	Balance   int64     `json:"balance"`
	UpdatedAt time.Time `json:"updated_at"`
}

// MaxCreditGrant bounds one grant.
const MaxCreditGrant = 1 << 50

// MachineMeter is one Machine's metering state.
type MachineMeter struct {
	TenantID    string     `json:"tenant_id"`
	MachineID   string     `json:"machine_id"`
	Baseline    float64    `json:"baseline"` // moving average of tokens per report
	Reports     int64      `json:"reports"`
	SuspendedAt *time.Time `json:"suspended_at,omitempty"`
	Reason      string     `json:"suspend_reason,omitempty"`
}

// UsageReport is the outcome of a metered usage report.
type UsageReport struct {
	Record    *UsageRecord `json:"usage_record"`
	Created   bool         `json:"created"`
	Charged   int64        `json:"charged"` // credits deducted by this call (0 for a replay)
	Balance   int64        `json:"balance"`
	Suspended bool         `json:"suspended"` // this report suspended the Machine
}

// Metering defaults.
const (
	DefaultTokensPerHour   = 2_000_000
	DefaultAnomalyFactor   = 100
	DefaultBaselineFloor   = 2_000 // tokens per report assumed for a new Machine
	DefaultBaselineWeight  = 0.2   // weight of the newest report in the moving average
	DefaultBaselineWarmups = 5     // reports before the baseline may drop below the floor
)

// Meter meters Machines' usage. It runs as the handle's tenant: the tenant
// and Machine are the handle's, never the request's.
type Meter interface {
	// ReportUsage records a usage report (once per idempotency key, as
	// TenantStore.CreateUsageRecord) and deducts its tokens from the
	// tenant's credits in the same transaction, exactly once: a replay is
	// free and answers the stored record. Before recording, it refuses with
	// EFORBIDDEN a suspended Machine or a tenant whose balance is zero or
	// below, and with ERATELIMIT a Machine over its tokens per hour. Usage
	// at DefaultAnomalyFactor × the Machine's baseline records an alert
	// audit event and suspends the Machine (Suspended=true).
	ReportUsage(ctx context.Context, ts TenantStore, u *UsageRecord) (*UsageReport, error)

	// CheckMachine refuses with EFORBIDDEN a suspended Machine or a tenant
	// without credits: the gate of a Machine's key fetch.
	CheckMachine(ctx context.Context, ts TenantStore) error

	// GrantCredits adds credits to a tenant once per idempotency key (a
	// replay changes nothing). Service role. ENOTFOUND for an unknown tenant.
	GrantCredits(ctx context.Context, svc ServiceStore, tenantID string, amount int64, idempotencyKey string) (*CreditAccount, error)

	// FindCreditAccount returns a tenant's balance (zero if never granted).
	FindCreditAccount(ctx context.Context, svc ServiceStore, tenantID string) (*CreditAccount, error)

	// FindMachineMeter returns a Machine's metering state. ENOTFOUND if it
	// never reported.
	FindMachineMeter(ctx context.Context, svc ServiceStore, tenantID, machineID string) (*MachineMeter, error)

	// UnsuspendMachine clears a suspension and resets the baseline.
	// ENOTFOUND if the Machine never reported.
	UnsuspendMachine(ctx context.Context, svc ServiceStore, tenantID, machineID string) error
}

// Suspender stops a Machine on the provisioning side (on Fly, a Machine
// stop). The catalog flag refuses the Machine first; the Suspender makes
// it stop spending. EUNAVAILABLE when the provider cannot be reached.
type Suspender interface {
	SuspendMachine(ctx context.Context, tenantID, machineID, reason string) error
}
