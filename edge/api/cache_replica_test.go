package api_test

import (
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/openagents/trust/edge/api"
	"github.com/openagents/trust/edge/sqlite"
	"github.com/openagents/trust/shared/trust"
)

// A replica whose catalog version is polled (sqlite.DB.VersionPoll) learns of
// replicated changes only at the next poll — except for a write it forwarded:
// once LiteFS reports the write's transaction here, cached answers from
// before it are no longer served, so the client reads its own write.
func TestServer_ReplicaCacheReadYourWrites(t *testing.T) {
	primary, _ := MustOpenCountingServer(t)
	refs := primary.MustSignSkills(t, 1)
	machine := primary.MustMachineToken(t, "m1")
	primary.Replication = &fakeReplication{route: trust.WriteRoute{Local: true}} // answers with its TXID
	if err := primary.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { primary.Close() })

	// The replica reads the same file, as LiteFS would give it the primary's
	// transactions; its poller never ticks within the test.
	db := sqlite.NewDB(primary.DB.DSN)
	db.AutoMigrate = false
	db.VersionPoll = time.Hour
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	r := api.NewServer()
	r.Logger = slog.New(slog.DiscardHandler)
	r.ServiceToken = ServiceToken
	r.SkillVersionService = sqlite.NewSkillVersionService(db)
	r.SignatureService = sqlite.NewSignatureService(db)
	r.KeyService = sqlite.NewKeyService(db)
	r.MachineTokenService = sqlite.NewMachineTokenService(db)
	r.Replication = &fakeReplication{route: trust.WriteRoute{URL: primary.URL()}}
	replica := &TestServer{Server: r, DB: db, Logs: &SyncBuffer{}}

	if got := replica.MustBatch(t, machine, refs...); got[0] != 1 {
		t.Fatalf("signatures = %v, want [1]", got)
	}
	// Cached now: a change by another writer is not seen before the next poll.
	if _, err := sqlite.NewSkillVersionService(primary.DB).UpdateSkillVersionState(t.Context(), refs[0], trust.SkillVersionApproved); err != nil {
		t.Fatal(err)
	}

	// A write through the replica, forwarded to the primary.
	path := "/v1/service/skills/" + refs[0].Name + "/versions/" + refs[0].Version + "/state"
	WantStatus(t, replica.Do(t, "POST", path, ServiceToken, `{"state":"rejected"}`), http.StatusOK)
	if got := replica.MustBatch(t, machine, refs...); got[0] != 0 {
		t.Fatalf("signatures = %v right after the replica forwarded the rejection, want [0]", got)
	}
}
