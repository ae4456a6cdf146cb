//go:build race

package policy

// fzRaceFactor scales FuzzCheck's time budget under the race detector.
const fzRaceFactor = 20
