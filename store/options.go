package store

import (
	"errors"
	"fmt"

	"github.com/resetgate/resetgate/plugin/duration"
)

// Backends a config may name.
const (
	BackendBadger = "badger"
	BackendRedis  = "redis"
)

// Options selects and tunes the store backend: the "storage" option of the
// JSON config. The Caddy module opens the backend from it.
type Options struct {
	// The backend: "badger" (embedded, one instance) or "redis" (several
	// Caddy instances sharing tokens and rate limits). Default: badger.
	Backend string `json:"backend,omitempty"`
	// Badger's directory. Default: <Caddy data dir>/resetgate.
	Dir string `json:"dir,omitempty"`
	// Redis URL: redis://[user:password@]host:port/db, or rediss:// for
	// TLS. Use a placeholder for the password. Required for redis.
	URL string `json:"url,omitempty"`
	// Prefix of every Redis key, so several sites can share a server.
	// Default: resetgate:.
	KeyPrefix string `json:"key_prefix,omitempty"`
	// Redis dial timeout. Default: 5s.
	DialTimeout duration.Duration `json:"dial_timeout,omitempty"`
	// Redis read and write timeout. Default: 3s.
	Timeout duration.Duration `json:"timeout,omitempty"`
	// Redis connection pool size. Default: 10 per CPU.
	PoolSize int `json:"pool_size,omitempty"`
	// Further Redis Cluster nodes (host:port) beside the URL's host: with
	// any, the store talks to a Redis Cluster (a redis-cluster:// URL says
	// the same). Default: none.
	ClusterAddrs []string `json:"cluster_addrs,omitempty"`
	// Finds the Redis primary through Sentinel (a redis-sentinel:// URL
	// says the same); the URL then gives only the password, database and
	// TLS. Default: none.
	Sentinel *SentinelOptions `json:"sentinel,omitempty"`
	// Every Redis write waits until this many replicas acknowledged it
	// (WAIT), or fails with 503: see the README, "Storage: Sentinel and
	// Cluster". Default: 0 (replication is asynchronous).
	WaitReplicas int `json:"wait_replicas,omitempty"`
	// How long a write waits for wait_replicas. Default: 100ms.
	WaitTimeout duration.Duration `json:"wait_timeout,omitempty"`
}

// SentinelOptions names a Sentinel-watched Redis group.
type SentinelOptions struct {
	// The master's name as the sentinels know it. Required.
	MasterName string `json:"master_name,omitempty"`
	// The sentinels, host:port. Required.
	Addrs []string `json:"addrs,omitempty"`
	// The sentinels' own password, if they have one. Use a placeholder.
	// Default: none.
	Password string `json:"password,omitempty"`
}

// BackendName is the backend o selects; a nil o is the default, badger.
func (o *Options) BackendName() string {
	if o == nil || o.Backend == "" {
		return BackendBadger
	}
	return o.Backend
}

// Validate checks the options; errors name the option ("storage redis:
// …") and never echo the URL, which may carry a password. A nil o is the
// default store.
func (o *Options) Validate() error {
	if o == nil {
		return nil
	}
	switch o.BackendName() {
	case BackendBadger:
		return nil
	case BackendRedis:
	default:
		return fmt.Errorf("storage: unknown backend %q (want badger, redis)", o.Backend)
	}
	if o.URL == "" {
		return errors.New("storage redis: a URL is required")
	}
	if sn := o.Sentinel; sn != nil {
		if sn.MasterName == "" || len(sn.Addrs) == 0 {
			return errors.New("storage redis: sentinel needs master_name and addrs")
		}
		if len(o.ClusterAddrs) > 0 {
			return errors.New("storage redis: sentinel and cluster nodes do not go together")
		}
	}
	if o.DialTimeout < 0 || o.Timeout < 0 || o.PoolSize < 0 || o.WaitReplicas < 0 || o.WaitTimeout < 0 {
		return errors.New("storage redis: timeouts, pool_size and wait_replicas must be positive")
	}
	return nil
}
