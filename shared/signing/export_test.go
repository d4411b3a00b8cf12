package signing

// AppendCanonical exposes the reflection-free encoder to the external tests,
// which hold it to the same output as CanonicalStatement.
var AppendCanonical = appendCanonical
