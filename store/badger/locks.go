package badger

import (
	"hash/maphash"
	"sync"
)

// lockStripes is the number of independently locked parts of the lease
// table.
const lockStripes = 64

// leases is the table of leases held in this process (store.Locker): the
// Store owns its directory alone, so no other process can hold one.
type leases struct {
	seed    maphash.Seed
	stripes [lockStripes]leaseStripe
}

type leaseStripe struct {
	mu   sync.Mutex
	held map[string]struct{}
}

func newLeases() *leases {
	l := &leases{seed: maphash.MakeSeed()}
	for i := range l.stripes {
		l.stripes[i].held = map[string]struct{}{}
	}
	return l
}

// TryLock implements store.Locker.
func (s *Store) TryLock(key string) (func(), bool) {
	st := &s.leases.stripes[maphash.String(s.leases.seed, key)%lockStripes]
	st.mu.Lock()
	defer st.mu.Unlock()
	if _, held := st.held[key]; held {
		return nil, false
	}
	st.held[key] = struct{}{}
	var once sync.Once
	return func() {
		once.Do(func() {
			st.mu.Lock()
			delete(st.held, key)
			st.mu.Unlock()
		})
	}, true
}
