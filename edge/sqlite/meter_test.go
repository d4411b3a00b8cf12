package sqlite_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/openagents/trust/edge/sqlite"
	"github.com/openagents/trust/shared/trust"
)

// FakeSuspender records the Machines it was asked to stop (the provisioning
// side, which cannot run here).
type FakeSuspender struct {
	mu        sync.Mutex
	Suspended []string
}

func (f *FakeSuspender) SuspendMachine(_ context.Context, tenantID, machineID, reason string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Suspended = append(f.Suspended, tenantID+"/"+machineID)
	return nil
}

// meterEnv is a tenant "a" with a Machine, a metered catalog and a service
// handle.
type meterEnv struct {
	meter   *sqlite.Meter
	svc     trust.ServiceStore
	machine trust.TenantStore
	tn      *sqlite.Tenancy
	clock   *Clock
	susp    *FakeSuspender
}

func mustMeterEnv(tb testing.TB) *meterEnv {
	tb.Helper()
	tn, svc, clock := MustTenancy(tb)
	MustCreateTenant(tb, svc, "a")
	m, err := tn.Authenticate(context.Background(), MustCreateMachineToken(tb, tn.DB(), "m-a", "a"))
	if err != nil {
		tb.Fatal(err)
	}
	meter := sqlite.NewMeter(tn.DB())
	susp := &FakeSuspender{}
	meter.Suspender = susp
	return &meterEnv{meter: meter, svc: svc, machine: m, tn: tn, clock: clock, susp: susp}
}

func usage(key string, in, out int64) *trust.UsageRecord {
	return &trust.UsageRecord{SessionID: "s1", Model: "claude", InputTokens: in, OutputTokens: out, IdempotencyKey: key}
}

func TestMeter_Credits(t *testing.T) {
	ctx := context.Background()
	e := mustMeterEnv(t)

	t.Run("ErrNoCredits", func(t *testing.T) {
		_, err := e.meter.ReportUsage(ctx, e.machine, usage("k0", 1, 1))
		WantCode(t, err, trust.EFORBIDDEN)
		WantCode(t, e.meter.CheckMachine(ctx, e.machine), trust.EFORBIDDEN)
	})
	acct, err := e.meter.GrantCredits(ctx, e.svc, "a", 1000, "grant-1")
	if err != nil || acct.Balance != 1000 {
		t.Fatalf("grant = %+v, %v", acct, err)
	}
	t.Run("GrantIdempotent", func(t *testing.T) {
		if acct, err := e.meter.GrantCredits(ctx, e.svc, "a", 1000, "grant-1"); err != nil || acct.Balance != 1000 {
			t.Fatalf("replayed grant = %+v, %v", acct, err)
		}
		_, err := e.meter.GrantCredits(ctx, e.svc, "a", 5, "grant-1")
		WantCode(t, err, trust.ECONFLICT)
		_, err = e.meter.GrantCredits(ctx, e.svc, "nobody", 5, "g")
		WantCode(t, err, trust.ENOTFOUND)
		_, err = e.meter.GrantCredits(ctx, e.svc, "a", 0, "g")
		WantCode(t, err, trust.EINVALID)
		_, err = e.meter.GrantCredits(ctx, &sqlite.ServiceStore{}, "a", 5, "g")
		WantCode(t, err, trust.EUNAUTHORIZED)
	})
	if err := e.meter.CheckMachine(ctx, e.machine); err != nil {
		t.Fatal(err)
	}

	rep, err := e.meter.ReportUsage(ctx, e.machine, usage("k1", 300, 100))
	if err != nil || !rep.Created || rep.Charged != 400 || rep.Balance != 600 || rep.Record.MachineID != "m-a" {
		t.Fatalf("report = %+v, %v", rep, err)
	}
	t.Run("ReplayIsFree", func(t *testing.T) {
		for i := 0; i < 3; i++ {
			again, err := e.meter.ReportUsage(ctx, e.machine, usage("k1", 300, 100))
			if err != nil || again.Created || again.Charged != 0 || again.Balance != 600 || again.Record.ID != rep.Record.ID {
				t.Fatalf("replay = %+v, %v", again, err)
			}
		}
		_, err := e.meter.ReportUsage(ctx, e.machine, usage("k1", 301, 100))
		WantCode(t, err, trust.ECONFLICT)
	})
	// Overdraw: the report that crosses zero is recorded; the next is refused.
	if rep, err := e.meter.ReportUsage(ctx, e.machine, usage("k2", 700, 0)); err != nil || rep.Balance != -100 {
		t.Fatalf("overdraw = %+v, %v", rep, err)
	}
	_, err = e.meter.ReportUsage(ctx, e.machine, usage("k3", 1, 0))
	WantCode(t, err, trust.EFORBIDDEN)
	WantCode(t, e.meter.CheckMachine(ctx, e.machine), trust.EFORBIDDEN)
	t.Run("ReplayAfterZeroStillAnswered", func(t *testing.T) {
		if again, err := e.meter.ReportUsage(ctx, e.machine, usage("k2", 700, 0)); err != nil || again.Created {
			t.Fatalf("replay = %+v, %v", again, err)
		}
	})
	if acct, err := e.meter.FindCreditAccount(ctx, e.svc, "a"); err != nil || acct.Balance != -100 {
		t.Fatalf("account = %+v, %v", acct, err)
	}
	t.Run("ErrForbiddenUser", func(t *testing.T) {
		_, cred := MustCreateUser(t, e.svc, "a", "u2@a.example")
		user, _ := MustSession(t, e.tn, cred)
		_, err := e.meter.ReportUsage(ctx, user, usage("k9", 1, 1))
		WantCode(t, err, trust.EFORBIDDEN)
	})
}

// TestMeter_ExactlyOnceConcurrent: many concurrent replays of one report
// deduct once.
func TestMeter_ExactlyOnceConcurrent(t *testing.T) {
	ctx := context.Background()
	e := mustMeterEnv(t)
	if _, err := e.meter.GrantCredits(ctx, e.svc, "a", 1_000_000, "g"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, err := e.meter.ReportUsage(ctx, e.machine, usage(fmt.Sprintf("k%d", i%4), 100, 0))
			errs <- err
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if acct, _ := e.meter.FindCreditAccount(ctx, e.svc, "a"); acct.Balance != 1_000_000-400 {
		t.Fatalf("balance = %d, want %d (4 distinct reports)", acct.Balance, 1_000_000-400)
	}
}

func TestMeter_TokensPerHour(t *testing.T) {
	ctx := context.Background()
	e := mustMeterEnv(t)
	e.meter.TokensPerHour = 1000
	if _, err := e.meter.GrantCredits(ctx, e.svc, "a", 1_000_000, "g"); err != nil {
		t.Fatal(err)
	}
	for i, n := range []int64{400, 400, 300} { // the third crosses the limit and is recorded
		if _, err := e.meter.ReportUsage(ctx, e.machine, usage(fmt.Sprint("h", i), n, 0)); err != nil {
			t.Fatal(err)
		}
		e.clock.Add(10 * time.Minute)
	}
	_, err := e.meter.ReportUsage(ctx, e.machine, usage("h3", 1, 0))
	WantCode(t, err, trust.ERATELIMIT)
	// An hour after the first report, it leaves the window.
	e.clock.Add(31 * time.Minute)
	if _, err := e.meter.ReportUsage(ctx, e.machine, usage("h4", 1, 0)); err != nil {
		t.Fatalf("after the window moved: %v", err)
	}
	// Another Machine of the tenant has its own window.
	other, err := e.tn.Authenticate(ctx, MustCreateMachineToken(t, e.tn.DB(), "m-b", "a"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.meter.ReportUsage(ctx, other, usage("o1", 900, 0)); err != nil {
		t.Fatal(err)
	}
}

func TestMeter_AnomalySuspends(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		history []int64 // reports before the probe
		probe   int64
		suspend bool
	}{
		{"NewMachineUnderFloor", nil, trust.DefaultBaselineFloor*trust.DefaultAnomalyFactor - 1, false},
		{"NewMachineAtFloor", nil, trust.DefaultBaselineFloor * trust.DefaultAnomalyFactor, true},
		{"QuietMachineKeepsFloor", []int64{10, 10, 10}, 150_000, false},
		{"BusyMachineBaseline", []int64{50_000, 50_000}, 4_000_000, false},
		{"BusyMachine100x", []int64{50_000, 50_000}, 5_000_000, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mustMeterEnv(t)
			e.meter.TokensPerHour = 0 // anomaly only
			if _, err := e.meter.GrantCredits(ctx, e.svc, "a", 1<<40, "g"); err != nil {
				t.Fatal(err)
			}
			for i, n := range tt.history {
				if _, err := e.meter.ReportUsage(ctx, e.machine, usage(fmt.Sprint("b", i), n, 0)); err != nil {
					t.Fatal(err)
				}
			}
			rep, err := e.meter.ReportUsage(ctx, e.machine, usage("probe", tt.probe, 0))
			if err != nil {
				t.Fatal(err)
			} else if rep.Suspended != tt.suspend || !rep.Created {
				t.Fatalf("report = %+v, want suspended=%v", rep, tt.suspend)
			}
			mm, err := e.meter.FindMachineMeter(ctx, e.svc, "a", "m-a")
			if err != nil {
				t.Fatal(err)
			} else if (mm.SuspendedAt != nil) != tt.suspend {
				t.Fatalf("meter = %+v", mm)
			}
			evs, _ := e.svc.FindAuditEvents(ctx, "a")
			var alerts int
			for _, ev := range evs {
				if ev.Action == "usage.anomaly" {
					alerts++
				}
			}
			if want := map[bool]int{true: 1, false: 0}[tt.suspend]; alerts != want || len(e.susp.Suspended) != want {
				t.Fatalf("alerts = %d, suspender calls = %v, want %d", alerts, e.susp.Suspended, want)
			}
			if !tt.suspend {
				return
			}
			_, err = e.meter.ReportUsage(ctx, e.machine, usage("after", 1, 0))
			WantCode(t, err, trust.EFORBIDDEN)
			WantCode(t, e.meter.CheckMachine(ctx, e.machine), trust.EFORBIDDEN)
			if err := e.meter.UnsuspendMachine(ctx, e.svc, "a", "m-a"); err != nil {
				t.Fatal(err)
			}
			if _, err := e.meter.ReportUsage(ctx, e.machine, usage("after", 1, 0)); err != nil {
				t.Fatalf("after unsuspend: %v", err)
			}
		})
	}
}

// BenchmarkMeter_ReportUsage measures one metered report: replay lookup,
// refusal checks, the hourly window sum, insert, charge and baseline, in
// one write transaction.
func BenchmarkMeter_ReportUsage(b *testing.B) {
	ctx := context.Background()
	e := mustMeterEnv(b)
	e.meter.TokensPerHour = 0
	if _, err := e.meter.GrantCredits(ctx, e.svc, "a", 1<<50, "g"); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		i++
		if _, err := e.meter.ReportUsage(ctx, e.machine, usage(fmt.Sprint("bench-", i), 1000, 200)); err != nil {
			b.Fatal(err)
		}
	}
}
