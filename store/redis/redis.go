// Package redis is the shared store.Store backend, on Redis (6.2 or later:
// a standalone server, a Sentinel-watched primary, or a Redis Cluster; see
// Options and topology.go).
// Several Caddy instances pointed at one Redis share tokens, flows and rate
// limits. It behaves like store/badger: both pass store/storetest.
//
// # Layout
//
// With the default key prefix "resetgate:", the caller's key k lives under
//
//	resetgate:k:<k>
//
// and its value is prefixed by its owner (a uvarint length, then the
// owner's bytes; a single zero byte when there is none), exactly as in
// store/badger, so that DeleteOwner knows whether a key still belongs to
// the owner it is listed under. An owner o has a Redis set
//
//	resetgate:o:<o>
//
// of its keys, whose TTL is the longest of its keys' (Put extends it).
// Consume and Delete take the key out of its owner's set; a key that merely
// expires stays listed until the set expires or DeleteOwner meets it, and
// DeleteOwner deletes only keys whose recorded owner is still that owner.
//
// Expiry is Redis's own (PX, in milliseconds, a TTL rounded up to the next
// millisecond). Every operation that touches more than one key, or reads
// before it writes, is a single Lua script, so Redis runs it atomically and
// nothing is ever half-written; the scripts reach owner sets they are not
// handed as KEYS, which Cluster allows only within the script's slot: in a
// cluster every key carries the key prefix as its hash tag, so all of them
// share one slot.
//
// # Errors and retries
//
// A missing key is store.ErrNotFound; Incr on a key that holds something
// other than a counter is an error of its own. Everything that stops an
// operation from completing (the network, timeouts, the server's error
// replies, a closed Store) wraps store.ErrUnavailable with the cause kept
// reachable by errors.Is. Commands are never re-sent after a failure: a
// script that ran but whose reply was lost (Consume, Incr, CompareAndSwap)
// must not run twice, so a failure surfaces once, as ErrUnavailable, and
// the next operation goes out on a fresh connection. Connections are
// redialled by themselves when the server comes back.
package redis

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
	"go.uber.org/zap"

	"github.com/resetgate/resetgate/store"
)

// DefaultKeyPrefix is the key prefix used when Options.KeyPrefix is empty.
const DefaultKeyPrefix = "resetgate:"

// Defaults for Options' zero values (when the URL does not set them).
const (
	DefaultDialTimeout = 5 * time.Second
	DefaultReadTimeout = 3 * time.Second
)

// dialAttempts is how many times a connection is dialled before an
// operation gives up: an operation against an unreachable server fails
// after at most dialAttempts × DialTimeout (plus a 100ms pause between).
const dialAttempts = 2

// Options configures Open.
type Options struct {
	// URL locates the server:
	//
	//	redis://[user:password@]host[:port][/db]
	//	rediss://[user:password@]host[:port][/db]   (TLS)
	//	unix://[user:password@]/path/to/redis.sock[?db=N]
	//
	// The port defaults to 6379 and the database to 0. The user and the
	// password, percent-encoded, are sent with AUTH (HELLO); a password
	// without a user ("redis://:secret@host") is Redis's requirepass. The
	// query parameters of go-redis's ParseURL are accepted too (for
	// instance ?pool_size=20&client_name=resetgate), except max_retries:
	// commands are never re-sent (see the package documentation). Errors
	// and logs show the URL with its password replaced by "xxxxx".
	// Required.
	URL string

	// KeyPrefix starts every key the Store writes, so that several
	// applications, or several resetgate deployments that must not share
	// state, can use one database. Default: DefaultKeyPrefix, "resetgate:".
	KeyPrefix string

	// DialTimeout bounds establishing a connection (TCP, TLS handshake).
	// Default: the URL's dial_timeout, else 5s.
	DialTimeout time.Duration

	// ReadTimeout bounds waiting for a reply; a command that times out
	// fails with store.ErrUnavailable. Default: the URL's read_timeout,
	// else 3s. A context deadline that comes sooner applies instead.
	ReadTimeout time.Duration

	// WriteTimeout bounds sending a command. Default: the URL's
	// write_timeout, else ReadTimeout.
	WriteTimeout time.Duration

	// PoolSize is the number of connections kept open per Store. Default:
	// the URL's pool_size, else 10 per GOMAXPROCS (go-redis's default).
	PoolSize int

	// TLSConfig replaces the TLS configuration of a rediss:// URL, for
	// instance to trust a private CA (RootCAs) or present a client
	// certificate. It is cloned; an empty ServerName is set to the URL's
	// host. It is an error with a redis:// URL. Default: the system's
	// roots, ServerName from the URL, TLS 1.2 or later.
	TLSConfig *tls.Config

	// SentinelMaster and SentinelAddrs find the primary through Redis
	// Sentinel: the master's name as the sentinels know it, and the
	// sentinels' host:port. The URL (redis:// or rediss://) then gives
	// only the credentials, the database, TLS and options; its host is not
	// used. A redis-sentinel:// URL sets both instead:
	//
	//	redis-sentinel://[user:password@]host:port[,host:port...][/db]?master_name=NAME
	//
	// Commands always go to the primary; after a failover the client
	// follows the sentinels to the new one. Default: none.
	SentinelMaster string
	SentinelAddrs  []string
	// SentinelUsername and SentinelPassword authenticate to the sentinels
	// (their requirepass), when they need it. Default: none.
	SentinelUsername, SentinelPassword string

	// ClusterAddrs, when set, make the Store talk to a Redis Cluster seeded
	// by the URL's host and these host:port. A redis-cluster:// URL says
	// the same: redis-cluster://[user:password@]host:port[,host:port...].
	// In a cluster every key of the Store carries one hash tag (the key
	// prefix in braces, e.g. "{resetgate:}"), so that each atomic script
	// touches one slot. Default: none.
	ClusterAddrs []string

	// WaitReplicas, when above zero, makes every write wait (Redis WAIT,
	// on the connection that wrote) until that many replicas acknowledged
	// it, for at most WaitTimeout; a write that fewer replicas took fails
	// with store.ErrUnavailable (it is on the primary, but a failover now
	// could lose it). Replication is asynchronous otherwise: a token issued
	// (or consumed) just before the primary dies may be missing (or usable
	// again) on the replica that takes over. WAIT narrows that to writes
	// whose caller saw an error; it is not a consensus (see the README,
	// "Storage: Sentinel and Cluster"). Not with Cluster. Default: 0.
	WaitReplicas int

	// WaitTimeout bounds the wait of WaitReplicas; it must be shorter than
	// ReadTimeout. Default: 100ms.
	WaitTimeout time.Duration

	// AllowDown makes Open succeed when the server cannot be reached (down,
	// refusing connections, not answering within the dial timeout): the
	// Store is returned, its operations fail with store.ErrUnavailable until
	// the server answers, and it reconnects by itself. A server that
	// answers with an error (a wrong password, say) still fails Open.
	// Default: false, Open fails when the first PING fails.
	AllowDown bool

	// Logger receives a line when the Store connects and when it closes.
	// Default: no logging. (go-redis itself logs a few connection-pool
	// events through its own process-wide logger; see redis.SetLogger in
	// github.com/redis/go-redis/v9.)
	Logger *zap.Logger
}

// Store is a store.Store kept in Redis. It is safe for concurrent use;
// create it with Open.
type Store struct {
	client   goredis.UniversalClient
	log      *zap.Logger
	where    string // the URL without its password, for messages
	password string // scrubbed from error messages, should one carry it

	waitReplicas int           // see Options.WaitReplicas
	waitTimeout  time.Duration // see Options.WaitTimeout

	keyPrefix   string // prefix of a caller's key: KeyPrefix + "k:"
	ownerPrefix string // prefix of an owner's set: KeyPrefix + "o:"

	closed atomic.Bool
}

// Open connects to the server o.URL names and checks it with a PING. The
// Store must be closed with Close. A server that cannot be reached, or that
// refuses the credentials, fails Open with an error that wraps
// store.ErrUnavailable.
func Open(ctx context.Context, o Options) (*Store, error) {
	if o.URL == "" {
		return nil, errors.New("store/redis: URL is required")
	}
	where, password := redactURL(o.URL)
	topo, plainURL, err := parseTopology(o)
	if err != nil {
		return nil, fmt.Errorf("store/redis: URL %s: %s", where, scrub(err.Error(), password))
	}
	ro, err := goredis.ParseURL(plainURL)
	if err != nil {
		return nil, fmt.Errorf("store/redis: invalid URL %s: %s", where, scrub(errMessage(err), password))
	}
	if u, _ := url.Parse(plainURL); u.Query().Has("max_retries") {
		return nil, fmt.Errorf("store/redis: invalid URL %s: max_retries is not supported (commands are never re-sent)", where)
	}
	switch {
	case o.TLSConfig != nil && ro.TLSConfig == nil:
		return nil, fmt.Errorf("store/redis: URL %s: a TLSConfig needs a rediss:// URL", where)
	case o.TLSConfig != nil:
		cfg := o.TLSConfig.Clone()
		if cfg.ServerName == "" {
			cfg.ServerName = ro.TLSConfig.ServerName
		}
		if cfg.MinVersion == 0 {
			cfg.MinVersion = tls.VersionTLS12
		}
		ro.TLSConfig = cfg
	}
	switch {
	case o.DialTimeout > 0:
		ro.DialTimeout = o.DialTimeout
	case ro.DialTimeout == 0:
		ro.DialTimeout = DefaultDialTimeout
	}
	switch {
	case o.ReadTimeout > 0:
		ro.ReadTimeout = o.ReadTimeout
	case ro.ReadTimeout == 0:
		ro.ReadTimeout = DefaultReadTimeout
	}
	if o.WriteTimeout > 0 {
		ro.WriteTimeout = o.WriteTimeout
	}
	if o.PoolSize > 0 {
		ro.PoolSize = o.PoolSize
	}
	// Never re-send a command: see the package documentation.
	ro.MaxRetries = -1
	ro.DialerRetries = dialAttempts
	// A caller's deadline shortens the socket deadlines.
	ro.ContextTimeoutEnabled = true
	// Maintenance push notifications are a Redis Enterprise/Cloud feature;
	// "auto" would probe for them on every new connection.
	ro.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}

	prefix := o.KeyPrefix
	if prefix == "" {
		prefix = DefaultKeyPrefix
	}
	log := o.Logger
	if log == nil {
		log = zap.NewNop()
	}
	if topo.kind == topoCluster {
		prefix = hashTagged(prefix)
	}
	if o.WaitReplicas > 0 {
		if topo.kind == topoCluster {
			return nil, fmt.Errorf("store/redis: URL %s: WaitReplicas does not go with Cluster", where)
		}
		if o.WaitTimeout <= 0 {
			o.WaitTimeout = 100 * time.Millisecond
		}
		if o.WaitTimeout >= ro.ReadTimeout {
			return nil, fmt.Errorf("store/redis: WaitTimeout (%v) must be shorter than the read timeout (%v)", o.WaitTimeout, ro.ReadTimeout)
		}
	}
	client, err := newClient(topo, ro)
	if err != nil {
		return nil, fmt.Errorf("store/redis: URL %s: %w", where, err)
	}
	s := &Store{
		client:       client,
		log:          log,
		where:        where,
		password:     ro.Password,
		waitReplicas: o.WaitReplicas,
		waitTimeout:  o.WaitTimeout,
		keyPrefix:    prefix + "k:",
		ownerPrefix:  prefix + "o:",
	}
	if err := s.client.Ping(ctx).Err(); err != nil {
		var reply goredis.Error
		if o.AllowDown && !errors.As(err, &reply) {
			log.Warn("redis store unreachable at start; calls answer 503 STORE_UNAVAILABLE until it answers",
				zap.String("url", where), zap.Error(s.scrubbed(err)))
			return s, nil
		}
		_ = s.client.Close()
		return nil, fmt.Errorf("store/redis: open %s: %w: %w", where, store.ErrUnavailable, s.scrubbed(err))
	}
	log.Info("redis store connected",
		zap.String("url", where),
		zap.String("topology", topo.kind),
		zap.Int("db", ro.DB),
		zap.Bool("tls", ro.TLSConfig != nil),
		zap.String("key_prefix", prefix))
	return s, nil
}

// Close closes the Store's connections. It is idempotent; operations after
// Close fail with store.ErrUnavailable.
func (s *Store) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	if err := s.client.Close(); err != nil {
		return fmt.Errorf("store/redis: close %s: %w", s.where, s.scrubbed(err))
	}
	s.log.Debug("redis store closed", zap.String("url", s.where))
	return nil
}

// Destruct closes the Store. It lets a Store live in a caddy.UsagePool,
// which calls Destruct when the last user lets go.
func (s *Store) Destruct() error {
	return s.Close()
}

// Interface guard.
var _ store.Store = (*Store)(nil)
