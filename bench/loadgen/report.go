package main

// Percentiles, the difference of two medians, and the -timeline file.

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"time"
)

// sample is one measured request's send time and latency (-timeline).
type sample struct{ at, lat time.Duration }

func report(name string, conns int, lat []time.Duration, secs float64, errs, unexp, late int) string {
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		i := int(p/100*float64(len(lat)) + 0.5)
		if i >= len(lat) {
			i = len(lat) - 1
		}
		return lat[i]
	}
	var sum time.Duration
	for _, l := range lat {
		sum += l
	}
	mean := time.Duration(0)
	if len(lat) > 0 {
		mean = sum / time.Duration(len(lat))
	}
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	rps := float64(len(lat)) / secs
	maxLat := time.Duration(0)
	if len(lat) > 0 {
		maxLat = lat[len(lat)-1]
	}
	fmt.Printf("%-10s %9d %10.0f %9s %9s %9s %9s %9s %7d %7d %7d\n", name, len(lat), rps,
		round(pct(50)), round(pct(90)), round(pct(99)), round(pct(99.9)), round(maxLat), errs, unexp, late)
	return fmt.Sprintf("RESULT case=%s conns=%d n=%d rps=%.1f p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f mean_us=%.1f errors=%d unexpected=%d late=%d",
		name, conns, len(lat), rps, us(pct(50)), us(pct(90)), us(pct(99)), us(pct(99.9)), us(maxLat), us(mean), errs, unexp, late)
}

func round(d time.Duration) time.Duration {
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond)
	default:
		return d.Round(10 * time.Microsecond)
	}
}

// writeTimeline writes -timeline's file: per 100 ms window of the measured
// time, the requests sent in it and their largest latency.
func writeTimeline(path string, stats []*connStats) error {
	const window = 100 * time.Millisecond
	var n []int
	var worst []time.Duration
	for _, st := range stats {
		for _, s := range st.sent {
			w := int(s.at / window)
			for len(n) <= w {
				n, worst = append(n, 0), append(worst, 0)
			}
			n[w]++
			worst[w] = max(worst[w], s.lat)
		}
	}
	var b strings.Builder
	for w := range n {
		fmt.Fprintf(&b, "%d %d %d\n", w*int(window/time.Millisecond), n[w], worst[w].Microseconds())
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("writing the timeline: %w", err)
	}
	return nil
}

// medianDiff returns median(a) − median(b) and a 95% bootstrap confidence
// interval for it. a and b must be sorted.
func medianDiff(a, b []time.Duration) (d, lo, hi time.Duration) {
	const resamples = 500
	rng := rand.New(rand.NewPCG(1, 2))
	ca, cb := make([]int32, len(a)), make([]int32, len(b))
	diffs := make([]time.Duration, resamples)
	for i := range diffs {
		diffs[i] = bootMedian(a, ca, rng) - bootMedian(b, cb, rng)
	}
	slices.Sort(diffs)
	return median(a) - median(b), diffs[resamples*25/1000], diffs[resamples*975/1000]
}

func median(s []time.Duration) time.Duration { return s[len(s)/2] }

// bootMedian is the median of a resample (with replacement) of the sorted
// s: as s is sorted, it is s at the median of the drawn indices, found by
// counting rather than sorting.
func bootMedian(s []time.Duration, counts []int32, rng *rand.Rand) time.Duration {
	clear(counts)
	n := len(s)
	for range n {
		counts[rng.IntN(n)]++
	}
	acc := 0
	for i, c := range counts {
		acc += int(c)
		if acc > n/2 {
			return s[i]
		}
	}
	return s[n-1]
}
