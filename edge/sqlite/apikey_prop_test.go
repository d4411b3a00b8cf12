package sqlite_test

import (
	"context"
	"fmt"
	"testing"

	"pgregory.net/rapid"

	"github.com/openagents/trust/edge/sqlite"
	"github.com/openagents/trust/shared/trust"
)

// TestUserKeyStore_IsolationProperty drives random put / delete / list /
// unseal operations on tenants' own keys, as random users of random
// tenants, against a model: every answer matches it, a tenant never sees or
// deletes another's key, and the service unseals exactly the key the tenant
// stored last (so no operation ever crossed tenants, even in the sealed
// context).
func TestUserKeyStore_IsolationProperty(t *testing.T) {
	ctx := context.Background()
	// One catalog for every run (a fresh one per run is most of the cost);
	// each run has tenants of its own.
	tn, svc, _ := MustTenancy(t)
	ks := sqlite.NewUserKeyStore(MustSealer(t, 9))
	run := 0
	rapid.Check(t, func(rt *rapid.T) {
		run++
		n := rapid.IntRange(2, 3).Draw(rt, "tenants")
		handles := make([]trust.TenantStore, n)
		ids := make([]string, n)
		for i := range handles {
			ids[i] = fmt.Sprintf("r%d-t%d", run, i)
			_, cred := MustCreateTenant(t, svc, ids[i])
			handles[i], _ = MustSession(t, tn, cred)
		}
		// model[tenant][provider] = (key, version)
		type entry struct {
			key     string
			version int
		}
		model := make([]map[string]entry, n)
		last := make([]map[string]int, n) // highest version ever stored
		for i := range model {
			model[i], last[i] = map[string]entry{}, map[string]int{}
		}

		for step := range rapid.IntRange(10, 25).Draw(rt, "steps") {
			i := rapid.IntRange(0, n-1).Draw(rt, "tenant")
			p := rapid.SampledFrom(trust.Providers).Draw(rt, "provider")
			switch rapid.SampledFrom([]string{"put", "delete", "list", "unseal"}).Draw(rt, "op") {
			case "put":
				key := fmt.Sprintf("sk-t%d-%s-%d", i, p, step)
				k, err := ks.PutUserAPIKey(ctx, handles[i], p, key)
				if err != nil {
					rt.Fatalf("put: %v", err)
				}
				last[i][p]++
				if k.TenantID != ids[i] || k.Version != last[i][p] {
					rt.Fatalf("put = %+v, want tenant %s version %d", k, ids[i], last[i][p])
				}
				model[i][p] = entry{key, k.Version}
			case "delete":
				err := ks.DeleteUserAPIKey(ctx, handles[i], p)
				if _, ok := model[i][p]; ok != (err == nil) || (!ok && trust.ErrorCode(err) != trust.ENOTFOUND) {
					rt.Fatalf("delete t%d %s = %v, model has it: %v", i, p, err, ok)
				}
				delete(model[i], p) // a later put gets the next version: never reused
			case "list":
				keys, err := ks.FindUserAPIKeys(ctx, handles[i])
				if err != nil || len(keys) != len(model[i]) {
					rt.Fatalf("list t%d = %d keys, %v; want %d", i, len(keys), err, len(model[i]))
				}
				for _, k := range keys {
					if k.TenantID != ids[i] || model[i][k.Provider].version != k.Version {
						rt.Fatalf("list t%d has %+v", i, k)
					}
				}
			case "unseal":
				_, key, err := ks.UnsealUserKey(ctx, svc, ids[i], p)
				want, ok := model[i][p]
				if ok != (err == nil) || (ok && key != want.key) || (!ok && trust.ErrorCode(err) != trust.ENOTFOUND) {
					rt.Fatalf("unseal t%d %s = %q, %v; want %q (present %v)", i, p, key, err, want.key, ok)
				}
			}
		}
	})
}
