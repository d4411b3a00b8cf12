//go:build race

package vuln

// raceEnabled is set when the race detector is on: tests that only
// measure bulk work on the real database skip then.
const raceEnabled = true

// RaceEnabled exports raceEnabled to the external tests.
const RaceEnabled = raceEnabled
