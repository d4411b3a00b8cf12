package trust

import (
	"regexp"
	"testing"
)

// Every pattern compiles: they are compiled only on first use, so a typo
// would otherwise surface as a panic in production.
func TestPatternsCompile(t *testing.T) {
	for _, p := range []*Pattern{keyPattern, actionPattern, periodPattern, keyIDRE, skillNameRE, skillVersionRE,
		publisherRE, digestRE, stripeAccountRE, stripeEventRE, TenantIDPattern, emailPattern} {
		if _, err := regexp.Compile(p.String()); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	if !TenantIDPattern.MatchString("acme-1") || TenantIDPattern.MatchString("-acme") {
		t.Error("TenantIDPattern does not match as its expression says")
	}
}
