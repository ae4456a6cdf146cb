package redis

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	goredis "github.com/redis/go-redis/v9"
)

// Topologies Open can talk to.
const (
	topoStandalone = "standalone"
	topoSentinel   = "sentinel"
	topoCluster    = "cluster"
)

// topology is where the servers are, apart from what every topology shares
// (credentials, database, TLS, timeouts), which a plain redis:// URL
// carries for go-redis's ParseURL.
type topology struct {
	kind string
	// addrs are the sentinels (sentinel) or the cluster's seed nodes
	// (cluster).
	addrs            []string
	master           string
	sentinelUsername string
	sentinelPassword string
}

// Query parameters of a redis-sentinel:// URL that go-redis's ParseURL does
// not know.
var sentinelParams = []string{"master_name", "sentinel_username", "sentinel_password"}

// parseTopology reads the topology from o and returns it with a plain
// redis:// (or rediss://) URL for the shared options:
//
//	redis-sentinel://[user:password@]host:port[,host:port...][/db]?master_name=NAME
//	    [&sentinel_username=U&sentinel_password=P]
//	redis-cluster://[user:password@]host:port[,host:port...]
//
// (rediss-sentinel:// and rediss-cluster:// for TLS). Options.Sentinel*
// and Options.ClusterAddrs say the same beside a plain URL.
func parseTopology(o Options) (topology, string, error) {
	scheme, rest, ok := strings.Cut(o.URL, "://")
	if !ok {
		return topology{kind: topoStandalone}, o.URL, nil
	}
	t := topology{kind: topoStandalone}
	base := scheme
	switch scheme {
	case "redis-sentinel", "rediss-sentinel":
		t.kind, base = topoSentinel, strings.TrimSuffix(scheme, "-sentinel")
	case "redis-cluster", "rediss-cluster":
		t.kind, base = topoCluster, strings.TrimSuffix(scheme, "-cluster")
	}
	plain := o.URL
	if t.kind != topoStandalone {
		// authority = [userinfo@]host,host,...; then /db and ?query.
		end := strings.IndexAny(rest, "/?#")
		if end < 0 {
			end = len(rest)
		}
		authority, tail := rest[:end], rest[end:]
		userinfo, hosts := "", authority
		if at := strings.LastIndex(authority, "@"); at >= 0 {
			userinfo, hosts = authority[:at+1], authority[at+1:]
		}
		for _, h := range strings.Split(hosts, ",") {
			if h = strings.TrimSpace(h); h != "" {
				t.addrs = append(t.addrs, h)
			}
		}
		if len(t.addrs) == 0 {
			return t, "", fmt.Errorf("a %s:// URL needs at least one host:port", scheme)
		}
		path, query, _ := strings.Cut(tail, "?")
		q, err := url.ParseQuery(query)
		if err != nil {
			return t, "", fmt.Errorf("invalid query: %s", errMessage(err))
		}
		if t.kind == topoSentinel {
			t.master = q.Get("master_name")
			t.sentinelUsername = q.Get("sentinel_username")
			t.sentinelPassword = q.Get("sentinel_password")
			for _, p := range sentinelParams {
				q.Del(p)
			}
		}
		plain = base + "://" + userinfo + t.addrs[0] + path
		if len(q) > 0 {
			plain += "?" + q.Encode()
		}
	}
	switch {
	case o.SentinelMaster != "" || len(o.SentinelAddrs) > 0:
		if t.kind != topoStandalone {
			return t, "", errors.New("SentinelMaster and SentinelAddrs go with a redis:// or rediss:// URL")
		}
		t.kind, t.master, t.addrs = topoSentinel, o.SentinelMaster, o.SentinelAddrs
		if len(t.addrs) == 0 {
			return t, "", errors.New("SentinelAddrs is required with SentinelMaster")
		}
	case len(o.ClusterAddrs) > 0:
		if t.kind == topoSentinel {
			return t, "", errors.New("ClusterAddrs does not go with Sentinel")
		}
		if t.kind == topoStandalone {
			u, err := url.Parse(o.URL)
			if err != nil {
				return t, "", fmt.Errorf("invalid URL: %s", errMessage(err))
			}
			t.addrs = []string{u.Host}
		}
		t.kind = topoCluster
		t.addrs = append(t.addrs, o.ClusterAddrs...)
	}
	if o.SentinelUsername != "" || o.SentinelPassword != "" {
		t.sentinelUsername, t.sentinelPassword = o.SentinelUsername, o.SentinelPassword
	}
	if t.kind == topoSentinel && t.master == "" {
		return t, "", errors.New("Sentinel needs the master's name (master_name=… in the URL, or SentinelMaster)")
	}
	return t, plain, nil
}

// newClient makes the go-redis client for the topology, with the shared
// options in ro.
func newClient(t topology, ro *goredis.Options) (goredis.UniversalClient, error) {
	switch t.kind {
	case topoSentinel:
		return goredis.NewFailoverClient(&goredis.FailoverOptions{
			MasterName:            t.master,
			SentinelAddrs:         t.addrs,
			SentinelUsername:      t.sentinelUsername,
			SentinelPassword:      t.sentinelPassword,
			ClientName:            ro.ClientName,
			Protocol:              ro.Protocol,
			Username:              ro.Username,
			Password:              ro.Password,
			DB:                    ro.DB,
			MaxRetries:            ro.MaxRetries,
			DialTimeout:           ro.DialTimeout,
			DialerRetries:         ro.DialerRetries,
			ReadTimeout:           ro.ReadTimeout,
			WriteTimeout:          ro.WriteTimeout,
			ContextTimeoutEnabled: ro.ContextTimeoutEnabled,
			PoolSize:              ro.PoolSize,
			PoolTimeout:           ro.PoolTimeout,
			MinIdleConns:          ro.MinIdleConns,
			MaxIdleConns:          ro.MaxIdleConns,
			ConnMaxIdleTime:       ro.ConnMaxIdleTime,
			ConnMaxLifetime:       ro.ConnMaxLifetime,
			TLSConfig:             ro.TLSConfig,
		}), nil
	case topoCluster:
		if ro.DB != 0 {
			return nil, errors.New("Redis Cluster has database 0 only")
		}
		return goredis.NewClusterClient(&goredis.ClusterOptions{
			Addrs:      t.addrs,
			ClientName: ro.ClientName,
			Protocol:   ro.Protocol,
			Username:   ro.Username,
			Password:   ro.Password,
			// One attempt, like every command here: a MOVED after a
			// failover surfaces once as unavailable and reloads the slots.
			MaxRedirects:             -1,
			MaxRetries:               ro.MaxRetries,
			DialTimeout:              ro.DialTimeout,
			DialerRetries:            ro.DialerRetries,
			ReadTimeout:              ro.ReadTimeout,
			WriteTimeout:             ro.WriteTimeout,
			ContextTimeoutEnabled:    ro.ContextTimeoutEnabled,
			PoolSize:                 ro.PoolSize,
			PoolTimeout:              ro.PoolTimeout,
			MinIdleConns:             ro.MinIdleConns,
			MaxIdleConns:             ro.MaxIdleConns,
			ConnMaxIdleTime:          ro.ConnMaxIdleTime,
			ConnMaxLifetime:          ro.ConnMaxLifetime,
			TLSConfig:                ro.TLSConfig,
			MaintNotificationsConfig: ro.MaintNotificationsConfig,
		}), nil
	}
	return goredis.NewClient(ro), nil
}

// hashTagged returns prefix with a hash tag, so that every key the Store
// writes lands in one Redis Cluster slot: a script (Put, Consume, Delete,
// DeleteOwner) touches a key and its owner's set, which Cluster allows
// only within one slot, and an owner's keys are unknown until DeleteOwner
// reads its set. A prefix that has a tag already ("{acme}:rg:") is kept.
func hashTagged(prefix string) string {
	if i := strings.Index(prefix, "{"); i >= 0 {
		if j := strings.Index(prefix[i+1:], "}"); j > 0 {
			return prefix
		}
	}
	return "{" + prefix + "}"
}
