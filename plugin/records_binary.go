package plugin

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"
)

// The pieces the binary record forms (records_token.go, records_flow.go)
// share: a version byte and a flags byte, varints, and strings prefixed by
// their length as a uvarint.

// splitBinary reads the form of a stored record of the given kind: JSON
// when it starts with '{' (what an earlier version wrote, or a record the
// binary form cannot hold), decoded into v; otherwise the binary form of
// version, whose flags and body it returns. errBad reports a malformed
// binary record.
func splitBinary(data []byte, version byte, kind string, v any, errBad error) (flags byte, body []byte, isJSON bool, err error) {
	if len(data) > 0 && data[0] == '{' {
		if err := json.Unmarshal(data, v); err != nil {
			return 0, nil, true, fmt.Errorf("decoding %s record: %w", kind, err)
		}
		return 0, nil, true, nil
	}
	if len(data) < 2 || data[0] != version {
		return 0, nil, false, errBad
	}
	return data[1], data[2:], false, nil
}

// inNanoRange reports whether t survives a round trip through Unix
// nanoseconds (and so the binary forms).
func inNanoRange(t time.Time) bool { return time.Unix(0, t.UnixNano()).Equal(t) }

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// readVarint reads a varint and returns what follows it.
func readVarint(rest []byte) (int64, []byte, bool) {
	v, n := binary.Varint(rest)
	if n <= 0 {
		return 0, nil, false
	}
	return v, rest[n:], true
}

// readFixed reads n bytes and returns them and what follows them.
func readFixed(rest []byte, n int) ([]byte, []byte, bool) {
	if len(rest) < n {
		return nil, nil, false
	}
	return rest[:n], rest[n:], true
}

// readStrings reads uvarint-length-prefixed strings (appendString) into
// fields, in order, and returns what follows them.
func readStrings(rest []byte, fields []*string) ([]byte, bool) {
	for _, f := range fields {
		l, n := binary.Uvarint(rest)
		if n <= 0 || l > uint64(len(rest)-n) {
			return nil, false
		}
		*f = string(rest[n : n+int(l)])
		rest = rest[n+int(l):]
	}
	return rest, true
}
