package redis

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/resetgate/resetgate/store"
	"github.com/resetgate/resetgate/store/redis/redistest"
	"github.com/resetgate/resetgate/store/storetest"
)

// A Redis Cluster of three masters passes the whole conformance suite: every
// key of the Store carries one hash tag, so each script stays in one slot.
func TestClusterConformance(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	storetest.Run(t, func(t *testing.T) store.Store {
		return openTest(t, Options{URL: c.URL()})
	})
}

// Two Stores on one cluster (two Caddy instances) share their keys, and
// the keys really live in the cluster (each node answers for its slots).
func TestClusterSharedAcrossStores(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	prefix := freshPrefix()
	a := openTest(t, Options{URL: c.URL(), KeyPrefix: prefix})
	b := openTest(t, Options{URL: "redis://" + c.Nodes[2].Addr(), ClusterAddrs: []string{c.Nodes[0].Addr()}, KeyPrefix: prefix})
	ctx := t.Context()
	if err := a.Put(ctx, "tok", []byte("v"), time.Minute, "owner"); err != nil {
		t.Fatal(err)
	}
	if v, err := b.Consume(ctx, "tok"); err != nil || string(v) != "v" {
		t.Fatalf("consume on the other store: %q %v", v, err)
	}
	if _, err := a.Consume(ctx, "tok"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second consume: %v, want ErrNotFound", err)
	}
	if got := hashTagged("acme:"); got != "{acme:}" {
		t.Fatalf("hashTagged = %q", got)
	}
	if got := hashTagged("{acme}:rg:"); got != "{acme}:rg:" {
		t.Fatalf("hashTagged kept tag = %q", got)
	}
}

// The Sentinel URL forms, and what they refuse.
func TestParseTopology(t *testing.T) {
	for _, tc := range []struct {
		url, kind, plain, master string
		addrs                    int
		wantErr                  bool
	}{
		{"redis://h:1/2", topoStandalone, "redis://h:1/2", "", 0, false},
		{"redis-sentinel://:pw@a:1,b:2,c:3/4?master_name=m&dial_timeout=1s", topoSentinel, "redis://:pw@a:1/4?dial_timeout=1s", "m", 3, false},
		{"rediss-sentinel://a:1?master_name=m&sentinel_password=x", topoSentinel, "rediss://a:1", "m", 1, false},
		{"redis-sentinel://a:1", "", "", "", 0, true},
		{"redis-cluster://u:p@a:1,b:2", topoCluster, "redis://u:p@a:1", "", 2, false},
		{"redis-cluster://", "", "", "", 0, true},
	} {
		topo, plain, err := parseTopology(Options{URL: tc.url})
		if tc.wantErr {
			if err == nil {
				t.Errorf("%s: no error", tc.url)
			}
			continue
		}
		if err != nil || topo.kind != tc.kind || plain != tc.plain || topo.master != tc.master || len(topo.addrs) != tc.addrs {
			t.Errorf("%s: %+v %q %v", tc.url, topo, plain, err)
		}
	}
}

// A Sentinel group (1 primary, 1 replica, 3 sentinels) loses its primary
// (SIGKILL) while tokens are issued and consumed. After the failover no
// token that was issued with WAIT's acknowledgement is lost, none is
// consumed twice, calls fail with ErrUnavailable only around the failover
// (the sentinels' down-after and election, then the old primary,
// restarted empty as the new primary's replica, syncing, which
// WaitReplicas 1 waits for), and then succeed again on the new primary.
// The group is settled (sentinels meshed, the replica streaming) before
// the kill and before the check, which reads every acknowledged token.
func TestSentinelFailover(t *testing.T) {
	t.Run("WaitReplicas1", func(t *testing.T) { sentinelFailover(t, 1) })
	t.Run("Async", func(t *testing.T) { sentinelFailover(t, 0) })
}

// sentinelFailover kills the primary under load; with waitReplicas 0 the
// old primary stays dead, and calls must succeed again right after the
// promotion (acknowledged writes in the last moment may be lost: counted
// and logged, as the README says).
func sentinelFailover(t *testing.T, waitReplicas int) {
	g := redistest.StartSentinelGroup(t)
	s := openTest(t, Options{URL: g.URL(), ReadTimeout: time.Second, DialTimeout: 300 * time.Millisecond, WaitReplicas: waitReplicas, WaitTimeout: 300 * time.Millisecond})
	ctx := t.Context()
	oldPrimary := g.PrimaryAddr()

	var (
		mu       sync.Mutex
		issued   []string // acknowledged by Put (and its WAIT)
		issuedAt = map[string]time.Time{}
		// gone: a consume right after the acknowledged Put found nothing.
		gone     = map[string]bool{}
		consumed = map[string]int{}
		// maybe: a consume that failed (ErrUnavailable) may still have
		// happened on the primary and reached the replica.
		maybe     = map[string]bool{}
		firstFail time.Time
		lastFail  time.Time
		failures  atomic.Int64
		n         atomic.Int64
	)
	fail := func(err error) {
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("error other than ErrUnavailable: %v", err)
		}
		failures.Add(1)
		mu.Lock()
		if firstFail.IsZero() {
			firstFail = time.Now()
		}
		lastFail = time.Now()
		mu.Unlock()
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("tok%d", n.Add(1))
				if err := s.Put(ctx, key, []byte("v"), time.Hour, "owner"); err != nil {
					fail(err)
					time.Sleep(20 * time.Millisecond)
					continue
				}
				mu.Lock()
				issued = append(issued, key)
				issuedAt[key] = time.Now()
				mu.Unlock()
				// Consume every other token right away.
				if n.Load()%2 == 0 {
					v, err := s.Consume(ctx, key)
					switch {
					case err == nil && string(v) == "v":
						mu.Lock()
						consumed[key]++
						mu.Unlock()
					case errors.Is(err, store.ErrNotFound):
						mu.Lock()
						gone[key] = true
						mu.Unlock()
					case err != nil:
						fail(err)
						mu.Lock()
						maybe[key] = true
						mu.Unlock()
					}
				}
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	killed := time.Now()
	g.Primary.Kill()
	// Wait for the sentinels to promote the replica, then for calls to
	// succeed again.
	deadline := time.Now().Add(30 * time.Second)
	for g.PrimaryAddr() == oldPrimary {
		if time.Now().After(deadline) {
			t.Fatal("no failover within 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	promoted := time.Since(killed)
	// With WaitReplicas 1 a write needs a replica: the dead primary comes
	// back, empty, as the new primary's replica (as the README asks of a
	// primary without persistence: never as an empty primary).
	if waitReplicas > 0 {
		g.Primary.RestartAsReplica(g.PrimaryAddr())
	}
	var recovered time.Duration
	for {
		if err := s.Put(ctx, "probe", []byte("p"), time.Minute, ""); err == nil {
			recovered = time.Since(killed)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("calls still fail 30s after the kill")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // load on the new primary
	close(stop)
	wg.Wait()
	t.Logf("primary killed; promoted after %s, calls succeed after %s; %d failed calls from %s to %s after the kill; %d tokens issued",
		promoted.Round(10*time.Millisecond), recovered.Round(10*time.Millisecond), failures.Load(),
		firstFail.Sub(killed).Round(time.Millisecond), lastFail.Sub(killed).Round(time.Millisecond), len(issued))
	if failures.Load() == 0 {
		t.Error("no call failed: the primary was not really killed under load")
	}
	// A second after the first success, the new replica may still be
	// sending its first acknowledgements (a WAIT that times out).
	if lastFail.Sub(killed) > recovered+2*time.Second {
		t.Errorf("calls failed %s after the kill, past the recovery at %s", lastFail.Sub(killed), recovered)
	}
	if waitReplicas == 0 && recovered > promoted+2*time.Second {
		t.Errorf("calls succeed %s after the kill, the promotion was at %s: the client did not follow the sentinels", recovered, promoted)
	}
	// Every acknowledged token is either consumed once, or still there.
	// The check reads (Get): a read changes nothing, so one that meets a
	// late turn of the sentinels can be tried again.
	g.WaitSettled(waitReplicas)
	check, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	get := func(key string) ([]byte, error) {
		for {
			v, err := s.Get(check, key)
			if !errors.Is(err, store.ErrUnavailable) || check.Err() != nil {
				return v, err
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	lost, twice, lostGone := 0, 0, 0
	var lostFrom, lostTo time.Duration // issue times of the lost, from the kill
	for _, key := range issued {
		if consumed[key] > 1 {
			t.Errorf("%s consumed %d times", key, consumed[key])
		}
		v, err := get(key)
		switch {
		case err == nil && consumed[key] == 0 && string(v) == "v":
		case errors.Is(err, store.ErrNotFound) && (consumed[key] == 1 || maybe[key]):
		case err == nil && waitReplicas > 0:
			t.Errorf("%s was consumed before the failover and is there again after it", key)
		case err == nil:
			twice++
		case errors.Is(err, store.ErrNotFound):
			at := issuedAt[key].Sub(killed)
			if lost == 0 || at < lostFrom {
				lostFrom = at
			}
			if lost == 0 || at > lostTo {
				lostTo = at
			}
			lost++
			if gone[key] {
				lostGone++
			}
		default:
			t.Fatalf("read %s after the failover: %v", key, err)
		}
	}
	if lost > 0 {
		t.Logf("the lost tokens were issued from %s to %s after the kill (negative: before it); %d of them were not found by a consume right after their Put",
			lostFrom.Round(time.Millisecond), lostTo.Round(time.Millisecond), lostGone)
	}
	switch {
	case lost > 0 && waitReplicas > 0:
		t.Errorf("%d of %d acknowledged tokens were lost in the failover", lost, len(issued))
	case waitReplicas == 0:
		t.Logf("without WAIT: of %d acknowledged tokens, %d lost and %d consumable again after the failover (asynchronous replication)", len(issued), lost, twice)
	}
}
