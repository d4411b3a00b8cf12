package sshtool_test

import (
	"testing"
	"time"

	"github.com/openagents/trust/shared/sshtool"
)

func TestLimiter(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	t.Run("EleventhWithinMinuteRefused", func(t *testing.T) {
		l := sshtool.NewLimiter()
		for i := range 10 {
			if !l.Allow("u|host", t0.Add(time.Duration(i)*time.Second)) {
				t.Fatalf("command %d refused", i+1)
			}
		}
		if l.Allow("u|host", t0.Add(59*time.Second+999*time.Millisecond)) {
			t.Fatal("11th command within 60 s allowed")
		}
		if !l.Allow("u|host", t0.Add(60*time.Second)) {
			t.Fatal("command 60 s after the first refused")
		}
		if l.Allow("u|host", t0.Add(60*time.Second+500*time.Millisecond)) {
			t.Fatal("command allowed while 10 are within the window")
		}
	})
	t.Run("RefusedNotCounted", func(t *testing.T) {
		l := sshtool.NewLimiter()
		for range 10 {
			l.Allow("k", t0)
		}
		for range 50 {
			l.Allow("k", t0.Add(30*time.Second))
		}
		if !l.Allow("k", t0.Add(60*time.Second)) {
			t.Fatal("refused attempts counted against the window")
		}
	})
	t.Run("PerKey", func(t *testing.T) {
		l := sshtool.NewLimiter()
		for range 10 {
			l.Allow("alice|h", t0)
		}
		if !l.Allow("bob|h", t0) || !l.Allow("alice|other", t0) {
			t.Fatal("one key's limit applied to another")
		}
	})
}
