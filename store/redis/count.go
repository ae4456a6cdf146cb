package redis

import (
	"context"

	"github.com/resetgate/resetgate/store"
)

// CountPrefix implements store.Counter with SCAN (never KEYS, which blocks
// the server): O(keys) work spread over many small calls.
func (s *Store) CountPrefix(ctx context.Context, prefix string) (int, error) {
	const op = "count"
	if err := s.enter(ctx, op); err != nil {
		return 0, err
	}
	n := 0
	iter := s.client.Scan(ctx, 0, escapeGlob(s.keyPrefix+prefix)+"*", 1000).Iterator()
	for iter.Next(ctx) {
		n++
	}
	if err := iter.Err(); err != nil {
		return 0, s.mapError(op, err)
	}
	return n, nil
}

// escapeGlob quotes the characters SCAN's MATCH pattern treats specially.
func escapeGlob(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', ']', '\\':
			out = append(out, '\\')
		}
		out = append(out, s[i])
	}
	return string(out)
}

var _ store.Counter = (*Store)(nil)
