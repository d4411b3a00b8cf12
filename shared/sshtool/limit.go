package sshtool

import (
	"sync"
	"time"
)

// Default rate limit: 10 commands per user and target in any 60 seconds.
const (
	DefaultRateLimit  = 10
	DefaultRateWindow = time.Minute
)

// Limiter counts commands per key (user and target) in a rolling window:
// Allow admits a command while fewer than Limit were admitted in the Window
// before it. With the defaults the eleventh command within 60 seconds of the
// first is refused, and the next one admitted 60 seconds after the first.
type Limiter struct {
	Limit  int
	Window time.Duration

	mu   sync.Mutex
	hits map[string][]time.Time
}

// NewLimiter returns a limiter with the defaults.
func NewLimiter() *Limiter {
	return &Limiter{Limit: DefaultRateLimit, Window: DefaultRateWindow}
}

// Allow admits one command for key at now, or reports false without
// counting it.
func (l *Limiter) Allow(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.hits == nil {
		l.hits = make(map[string][]time.Time)
	}
	kept := l.hits[key][:0]
	for _, t := range l.hits[key] {
		if now.Sub(t) < l.Window {
			kept = append(kept, t)
		}
	}
	if len(kept) >= l.Limit {
		l.hits[key] = kept
		return false
	}
	l.hits[key] = append(kept, now)
	return true
}
