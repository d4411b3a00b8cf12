package guard

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Burst is one anomaly the detector watches for: at least Threshold events
// with Action and Decision in one session within Window.
type Burst struct {
	Name      string
	Action    string
	Decision  string
	Threshold int
	Window    time.Duration
}

// DefaultBursts are the anomalies watched unless configured otherwise: a
// burst of refused tool calls (a hijacked agent probing its permissions) and
// a burst of injection flags (a page or mailbox full of payloads).
var DefaultBursts = []Burst{
	{Name: "refused-burst", Action: ActionToolCall, Decision: DecisionRefuse, Threshold: 5, Window: time.Minute},
	{Name: "flag-burst", Action: ActionFlag, Decision: DecisionFlag, Threshold: 10, Window: 5 * time.Minute},
}

// AnomalyDetector is a Recorder that passes every event on to Next and
// watches the stream per session: when a Burst fills its window it records
// an alert event (action guard.anomaly) on Next, at most once per window and
// session. Create it with NewAnomalyDetector.
type AnomalyDetector struct {
	Next   Recorder
	Bursts []Burst
	// Now is the clock; tests set a fake one.
	Now func() time.Time

	mu    sync.Mutex
	seen  map[burstKey][]time.Time // event times inside the window, oldest first
	alert map[burstKey]time.Time   // when the last alert was raised
}

type burstKey struct {
	session string
	burst   int
}

// NewAnomalyDetector returns a detector with the default bursts and the real
// clock, recording on next.
func NewAnomalyDetector(next Recorder) *AnomalyDetector {
	return &AnomalyDetector{Next: next, Bursts: DefaultBursts, Now: time.Now}
}

// Record passes e on, then raises an alert if e completes a burst. The
// error is Next's.
func (a *AnomalyDetector) Record(ctx context.Context, e Event) error {
	err := a.Next.Record(ctx, e)
	for _, alert := range a.observe(e) {
		if aerr := a.Next.Record(ctx, alert); aerr != nil && err == nil {
			err = aerr
		}
	}
	return err
}

func (a *AnomalyDetector) observe(e Event) []Event {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.seen == nil {
		a.seen, a.alert = map[burstKey][]time.Time{}, map[burstKey]time.Time{}
	}
	now := a.Now()
	var alerts []Event
	for i, b := range a.Bursts {
		if e.Action != b.Action || e.Decision != b.Decision {
			continue
		}
		k := burstKey{e.Session, i}
		times := append(a.seen[k], now)
		cut := 0
		for cut < len(times) && now.Sub(times[cut]) >= b.Window {
			cut++
		}
		times = times[cut:]
		a.seen[k] = times
		if len(times) < b.Threshold {
			continue
		}
		if last, ok := a.alert[k]; ok && now.Sub(last) < b.Window {
			continue
		}
		a.alert[k] = now
		alerts = append(alerts, Event{
			Time: now, Tenant: e.Tenant, Machine: e.Machine, Session: e.Session, Skill: e.Skill,
			Action: ActionAnomaly, Decision: DecisionAlert,
			Reason: fmt.Sprintf("%s: %d %s/%s events in session %s within %s", b.Name, len(times), b.Action, b.Decision, e.Session, b.Window),
		})
	}
	a.gc(now)
	return alerts
}

// gc drops sessions whose windows are empty, so the maps stay bounded by
// the sessions active within the longest window.
func (a *AnomalyDetector) gc(now time.Time) {
	for k, times := range a.seen {
		b := a.Bursts[k.burst]
		if len(times) == 0 || now.Sub(times[len(times)-1]) >= b.Window {
			delete(a.seen, k)
		}
	}
	for k, t := range a.alert {
		if now.Sub(t) >= a.Bursts[k.burst].Window {
			delete(a.alert, k)
		}
	}
}
