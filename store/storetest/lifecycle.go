// Conformance tests of a canceled context and of Close.

package storetest

import (
	"context"
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/resetgate/resetgate/store"
)

func testCanceledContext(t *testing.T, s store.Store) {
	mustPut(t, s, "k", "v", "alice")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	calls := map[string]func() error{
		"Put": func() error { return s.Put(ctx, "k2", []byte("v"), long, "") },
		"PutIfAbsent": func() error {
			_, err := s.PutIfAbsent(ctx, "k3", []byte("v"), long)
			return err
		},
		"Get": func() error {
			_, err := s.Get(ctx, "k")
			return err
		},
		"Consume": func() error {
			_, err := s.Consume(ctx, "k")
			return err
		},
		"CompareAndSwap": func() error {
			_, err := s.CompareAndSwap(ctx, "k", []byte("v"), []byte("w"))
			return err
		},
		"Delete": func() error { return s.Delete(ctx, "k") },
		"DeleteOwner": func() error {
			_, err := s.DeleteOwner(ctx, "alice")
			return err
		},
		"Incr": func() error {
			_, err := s.Incr(ctx, "n", long)
			return err
		},
	}
	for _, name := range slices.Sorted(maps.Keys(calls)) {
		err := calls[name]()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a canceled context = %v, want an error matching context.Canceled", name, err)
		}
	}
	// A refused Consume did not consume.
	wantValue(t, s, "k", "v")
}

func testClose(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustPut(t, s, "k", "v", "")
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// A closed store answers ErrUnavailable, never a value or ErrNotFound.
	if got, err := s.Get(ctx, "k"); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Get after Close = %q, %v; want ErrUnavailable", got, err)
	}
	if err := s.Put(ctx, "k", []byte("v"), long, ""); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Put after Close = %v; want ErrUnavailable", err)
	}
	if got, err := s.Consume(ctx, "k"); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Consume after Close = %q, %v; want ErrUnavailable", got, err)
	}
	if _, err := s.DeleteOwner(ctx, "o"); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("DeleteOwner after Close = %v; want ErrUnavailable", err)
	}
	if _, err := s.Incr(ctx, "n", long); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Incr after Close = %v; want ErrUnavailable", err)
	}
}
