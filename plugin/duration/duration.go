// Package duration is the duration of resetgate's JSON config: it reads
// what caddy.Duration reads ("15m", "1h30m", "7d", or an integer of
// nanoseconds) and writes an integer of nanoseconds, so a config adapted by
// Caddy round-trips unchanged, without the engine importing Caddy.
package duration

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"time"
)

// Duration is a time.Duration in a JSON config.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// UnmarshalJSON reads a duration string such as "15m" or "7d", or an
// integer of nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if len(b) == 0 {
		return errors.New("empty duration")
	}
	var v time.Duration
	var err error
	if b[0] == '"' {
		var s string
		if err = json.Unmarshal(b, &s); err != nil {
			return err
		}
		v, err = Parse(s)
	} else {
		err = json.Unmarshal(bytes.TrimSpace(b), &v)
	}
	*d = Duration(v)
	return err
}

// Parse reads a duration string as time.ParseDuration does, plus the unit
// "d", a day of 24 hours (as caddy.ParseDuration does). The input is at
// most 1024 bytes.
func Parse(s string) (time.Duration, error) {
	if len(s) > 1024 {
		return 0, errors.New("parsing duration: input string too long")
	}
	var inNumber bool
	var numStart int
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch == 'd' {
			days, err := strconv.ParseFloat(s[numStart:i], 64)
			if err != nil {
				return 0, err
			}
			s = s[:numStart] + strconv.FormatFloat(days*24, 'f', -1, 64) + "h" + s[i+1:]
			i--
			continue
		}
		if !inNumber {
			numStart = i
		}
		inNumber = (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' || ch == '+'
	}
	return time.ParseDuration(s)
}
