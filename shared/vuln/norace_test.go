//go:build !race

package vuln

const raceEnabled = false

// RaceEnabled exports raceEnabled to the external tests.
const RaceEnabled = raceEnabled
