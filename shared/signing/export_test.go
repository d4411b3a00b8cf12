package signing

import "github.com/openagents/trust/shared/trust"

// AppendCanonical exposes the reflection-free encoder to the external tests,
// which hold it to the same output as CanonicalStatement.
var AppendCanonical = appendCanonical

// The fast paths and the encoding/json paths they must agree with.
var (
	FastEnvelope  = fastEnvelope
	FastStatement = fastStatement
	DecodeStrict  = decodeStrict
)

// SlowStatement decodes a payload through the encoding/json path only.
func SlowStatement(p []byte) (*trust.Statement, error) {
	var st trust.Statement
	if err := decodeStrict(p, &st); err != nil {
		return nil, err
	} else if err := ValidateStatement(&st); err != nil {
		return nil, err
	} else if !equalCanonical(p, &st) {
		return nil, trust.Errorf(trust.EINVALID, "not canonical")
	}
	return &st, nil
}
