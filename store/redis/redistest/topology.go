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
// tried again after SentinelFailoverTimeout.
const (
	SentinelDownAfter       = time.Second
	SentinelFailoverTimeout = 5 * time.Second
)

// StartSentinelGroup starts a Sentinel group (1 primary, 1 replica, 3
// sentinels, quorum 2) and waits until the sentinels see the replica.
func StartSentinelGroup(t testing.TB) *SentinelGroup {
	t.Helper()
	g := &SentinelGroup{t: t, MasterName: "resetgate"}
	// The replica may become the primary, and the old primary (restarted)
	// its replica: both keep their data out of the disk, as Start does.
	g.Primary = Start(t)
	g.Replica = Start(t, WithArgs("--replicaof", "127.0.0.1", strconv.Itoa(g.Primary.Port())))
	for i := 0; i < 3; i++ {
		g.Sentinels = append(g.Sentinels, Start(t, WithSentinel(
			"sentinel monitor "+g.MasterName+" 127.0.0.1 "+strconv.Itoa(g.Primary.Port())+" 2",
			fmt.Sprintf("sentinel down-after-milliseconds %s %d", g.MasterName, SentinelDownAfter.Milliseconds()),
			fmt.Sprintf("sentinel failover-timeout %s %d", g.MasterName, SentinelFailoverTimeout.Milliseconds()),
			"sentinel parallel-syncs "+g.MasterName+" 1",
		)))
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok := true
		for _, s := range g.Sentinels {
			out, err := cli(s.Port(), "SENTINEL", "REPLICAS", g.MasterName)
			if err != nil || !strings.Contains(out, strconv.Itoa(g.Replica.Port())) {
				ok = false
			}
		}
		out, err := cli(g.Replica.Port(), "INFO", "replication")
		if err != nil || !strings.Contains(out, "master_link_status:up") {
			ok = false
		}
		if ok {
			return g
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: the sentinels did not see the replica within 20s (last: %v %s)", err, out)
		}
		time.Sleep(100 * time.Millisecond)
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
