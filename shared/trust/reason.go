package trust

// Reasons a skill fails verification at boot. Each refusal names exactly one.
const (
	ReasonUnsigned            = "unsigned"             // no signature in the catalog
	ReasonContentMismatch     = "content_mismatch"     // files differ from what was signed
	ReasonPermissionsMismatch = "permissions_mismatch" // declared permissions differ
	ReasonUnknownKey          = "unknown_key"          // key ID not in the pinned keyring
	ReasonWrongKeyVersion     = "wrong_key_version"    // key known, version not, or signature not by it
	ReasonRevokedKey          = "revoked_key"
	ReasonExpiredKey          = "expired_key" // now, or issue time, after the key's not-after
	ReasonKeyNotYetValid      = "key_not_yet_valid"
	ReasonBadSignature        = "bad_signature"  // envelope signature does not verify
	ReasonMalformed           = "malformed"      // envelope or statement cannot be read
	ReasonMismatchedSkill     = "skill_mismatch" // statement names another skill or version
	ReasonInvalidSkill        = "invalid_skill"  // the folder cannot be read as a skill
)

// VerifyError is a refused verification with its reason.
type VerifyError struct {
	Reason  string
	Message string
}

func (e *VerifyError) Error() string { return e.Reason + ": " + e.Message }
