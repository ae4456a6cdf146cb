package redistest

import (
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// SentinelGroup is a primary, one replica and three sentinels watching
// them, all on loopback.
type SentinelGroup struct {
	t testing.TB
	// MasterName is the name the sentinels know the group by.
	MasterName string
	// Primary and Replica are the data servers as started; after a
	// failover the replica is the primary.
	Primary, Replica *Server
	// Sentinels are the three sentinels.
	Sentinels []*Server
}

// Failover timing of the sentinels StartSentinelGroup starts: a primary
// that does not answer for SentinelDownAfter is down, and a failover is
// tried again after SentinelFailoverTimeout. One second was too short on
// a loaded machine: a sentinel's link to the new primary, a second old,
// had not answered yet, and the group failed over a second time.
const (
	SentinelDownAfter       = 2 * time.Second
	SentinelFailoverTimeout = 5 * time.Second
)

// StartSentinelGroup starts a Sentinel group (1 primary, 1 replica, 3
// sentinels, quorum 2) and waits until the sentinels see the replica.
func StartSentinelGroup(t testing.TB) *SentinelGroup {
	t.Helper()
	g := &SentinelGroup{t: t, MasterName: "resetgate"}
	// The replica may become the primary, and the old primary (restarted)
	// its replica: both keep their data out of the disk, as Start does.
	// A replica's full sync starts at once, not after Redis's default 5 s
	// wait for more replicas to share it.
	now := WithArgs("--repl-diskless-sync-delay", "0")
	g.Primary = Start(t, now)
	g.Replica = Start(t, now, WithArgs("--replicaof", "127.0.0.1", strconv.Itoa(g.Primary.Port())))
	for i := 0; i < 3; i++ {
		g.Sentinels = append(g.Sentinels, Start(t, WithSentinel(
			"sentinel monitor "+g.MasterName+" 127.0.0.1 "+strconv.Itoa(g.Primary.Port())+" 2",
			fmt.Sprintf("sentinel down-after-milliseconds %s %d", g.MasterName, SentinelDownAfter.Milliseconds()),
			fmt.Sprintf("sentinel failover-timeout %s %d", g.MasterName, SentinelFailoverTimeout.Milliseconds()),
			"sentinel parallel-syncs "+g.MasterName+" 1",
		)))
	}
	t.Cleanup(g.logIfFailed)
	g.WaitSettled(1)
	return g
}

// WaitSettled waits until the group is one a failover can be judged by:
// every sentinel names the same primary and knows the two others (a
// sentinel alone cannot reach the quorum), and, with replicas 1, a write
// on the primary is acknowledged by a replica (WAIT 1): a replica that has
// just finished its full sync only receives the primary's stream after its
// first acknowledgement, up to a second later, and a primary killed before
// that loses every write since the sync even on the replica. It fails the
// test after 30 s.
func (g *SentinelGroup) WaitSettled(replicas int) {
	g.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		why := g.unsettled(replicas)
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("redistest: the Sentinel group did not settle within 30s: %s", why)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// unsettled says what keeps the group from being settled; empty if
// nothing does.
func (g *SentinelGroup) unsettled(replicas int) string {
	primary := ""
	for i, s := range g.Sentinels {
		out, err := cli(s.Port(), "SENTINEL", "GET-MASTER-ADDR-BY-NAME", g.MasterName)
		f := strings.Fields(out)
		if err != nil || len(f) != 2 {
			return fmt.Sprintf("sentinel %d does not name a primary (%v %q)", i+1, err, out)
		}
		if addr := f[0] + ":" + f[1]; primary == "" {
			primary = addr
		} else if addr != primary {
			return fmt.Sprintf("the sentinels name %s and %s as the primary", primary, addr)
		}
		out, err = cli(s.Port(), "SENTINEL", "MASTER", g.MasterName)
		if err != nil || !strings.Contains(out, "num-other-sentinels\n2\n") {
			return fmt.Sprintf("sentinel %d does not know the two others yet (%v)", i+1, err)
		}
	}
	if replicas == 0 {
		return ""
	}
	// SET and WAIT on one connection: WAIT counts the replicas that
	// acknowledged this connection's last write.
	_, port, _ := strings.Cut(primary, ":")
	cmd := exec.Command("redis-cli", "-p", port)
	cmd.Stdin = strings.NewReader(fmt.Sprintf("SET redistest:settled 1\nWAIT %d 1000\n", replicas))
	out, err := cmd.CombinedOutput()
	if f := strings.Fields(string(out)); err != nil || len(f) != 2 || f[1] != strconv.Itoa(replicas) {
		return fmt.Sprintf("the primary %s has no replica that acknowledges its writes (%v %q)", primary, err, out)
	}
	return ""
}

// logIfFailed writes every member's log to the test's output when the
// test failed: who voted, who was promoted and who was told to replicate
// whom is the story of a failover.
func (g *SentinelGroup) logIfFailed() {
	if !g.t.Failed() {
		return
	}
	for i, s := range append([]*Server{g.Primary, g.Replica}, g.Sentinels...) {
		name := [...]string{"first primary", "first replica"}[min(i, 1)]
		if i >= 2 {
			name = fmt.Sprintf("sentinel %d", i-1)
		}
		g.t.Logf("redistest: %s (port %d) log:\n%s", name, s.Port(), s.Log())
	}
}

// URL is a redis-sentinel:// URL naming the three sentinels and the group.
func (g *SentinelGroup) URL() string {
	hosts := make([]string, len(g.Sentinels))
	for i, s := range g.Sentinels {
		hosts[i] = s.Addr()
	}
	return "redis-sentinel://" + strings.Join(hosts, ",") + "?master_name=" + g.MasterName
}

// PrimaryAddr asks the first sentinel that answers for the current
// primary's address.
func (g *SentinelGroup) PrimaryAddr() string {
	for _, s := range g.Sentinels {
		out, err := cli(s.Port(), "SENTINEL", "GET-MASTER-ADDR-BY-NAME", g.MasterName)
		if err == nil {
			f := strings.Fields(out)
			if len(f) == 2 {
				return f[0] + ":" + f[1]
			}
		}
	}
	return ""
}

// Cluster is a Redis Cluster of masters without replicas, on loopback.
type Cluster struct {
	// Nodes are the masters.
	Nodes []*Server
}

// StartCluster starts n cluster-enabled servers, joins them with
// `redis-cli --cluster create` (which spreads the 16384 slots over them)
// and waits until every node says cluster_state:ok.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	if _, err := exec.LookPath("redis-cli"); err != nil {
		t.Fatalf("redistest: redis-cli is not installed (apt-get install -y redis-tools): %v", err)
	}
	c := &Cluster{}
	args := []string{"--cluster", "create"}
	for i := 0; i < n; i++ {
		s := Start(t, WithArgs("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000"))
		c.Nodes = append(c.Nodes, s)
		args = append(args, s.Addr())
	}
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redistest: redis-cli %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok := true
		var last string
		for _, s := range c.Nodes {
			out, err := cli(s.Port(), "CLUSTER", "INFO")
			if err != nil || !strings.Contains(out, "cluster_state:ok") {
				ok, last = false, out
			}
		}
		if ok {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: the cluster is not ok after 20s: %s", last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// URL is a redis-cluster:// URL naming every node.
func (c *Cluster) URL() string {
	hosts := make([]string, len(c.Nodes))
	for i, s := range c.Nodes {
		hosts[i] = s.Addr()
	}
	return "redis-cluster://" + strings.Join(hosts, ",")
}

// cli runs redis-cli against a loopback port and returns its output.
func cli(port int, args ...string) (string, error) {
	out, err := exec.Command("redis-cli", append([]string{"-p", strconv.Itoa(port)}, args...)...).CombinedOutput()
	return string(out), err
}
