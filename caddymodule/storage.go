package caddymodule

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/resetgate/resetgate/plugin"
	"github.com/resetgate/resetgate/store"
	badgerstore "github.com/resetgate/resetgate/store/badger"
	redisstore "github.com/resetgate/resetgate/store/redis"
)

// stores shares open Badger databases across config loads, keyed by
// absolute directory: Caddy provisions the new config before it cleans up
// the old one, and Badger allows one opener per directory.
var stores = caddy.NewUsagePool()

// openStore opens (or reuses) the configured store and returns the server
// key. The options are resolved and valid.
func (h *Handler) openStore(ctx caddy.Context, o plugin.Options) ([]byte, error) {
	if o.Storage.BackendName() == store.BackendRedis {
		return h.openRedis(ctx, o)
	}
	dir := ""
	if o.Storage != nil {
		dir = o.Storage.Dir
	}
	if dir == "" {
		dir = filepath.Join(caddy.AppDataDir(), "resetgate")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("storage dir: %w", err)
	}
	key, err := h.serverKey(o.Key, dir)
	if err != nil {
		return nil, err
	}
	logger := h.logger.Named("badger")
	val, _, err := stores.LoadOrNew(dir, func() (caddy.Destructor, error) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		return badgerstore.Open(badgerstore.Options{Dir: dir, Logger: logger})
	})
	if err != nil {
		return nil, fmt.Errorf("storage badger %s: %w", dir, err)
	}
	h.st = val.(store.Store)
	h.poolKey = dir
	h.localCounters = true // one process owns Badger: count requests in memory
	return key, nil
}

func (h *Handler) releaseStore() error {
	if h.poolKey == "" {
		return nil
	}
	_, err := stores.Delete(h.poolKey)
	h.poolKey, h.st = "", nil
	return err
}

// serverKey returns the configured key, or one made once and kept in a file
// beside the database directory (never inside it: a copy of the database
// alone must not carry the key).
func (h *Handler) serverKey(configured, dir string) ([]byte, error) {
	if configured != "" {
		return []byte(configured), nil // its length is checked by Options.Validate
	}
	path := strings.TrimSuffix(dir, string(filepath.Separator)) + ".key"
	if data, err := os.ReadFile(path); err == nil {
		k := strings.TrimSpace(string(data))
		if err := plugin.CheckKeyLength(len(k)); err != nil {
			return nil, fmt.Errorf("key file %s: the key %w", path, err)
		}
		return []byte(k), nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("reading key file %s: %w", path, err)
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	k := hex.EncodeToString(b)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("creating key file directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return h.serverKey(configured, dir) // another instance made it first
	}
	if err != nil {
		return nil, fmt.Errorf("creating key file %s: %w", path, err)
	}
	if _, err := f.WriteString(k + "\n"); err != nil {
		f.Close()
		return nil, fmt.Errorf("writing key file %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("writing key file %s: %w", path, err)
	}
	h.logger.Info("made a new server key", zap.String("file", path))
	return []byte(k), nil
}

// openRedis connects to the shared Redis store. Every instance must derive
// the same hashing keys, so Options.Validate refused a config without a
// key.
func (h *Handler) openRedis(ctx caddy.Context, o plugin.Options) ([]byte, error) {
	st := o.Storage
	opts := redisstore.Options{
		URL: st.URL, KeyPrefix: st.KeyPrefix, DialTimeout: st.DialTimeout.D(),
		ReadTimeout: st.Timeout.D(), WriteTimeout: st.Timeout.D(),
		PoolSize: st.PoolSize, Logger: h.logger.Named("redis"),
		// A Redis that is down at start-up must not stop Caddy: calls answer
		// 503 STORE_UNAVAILABLE until it is back.
		AllowDown: true,
	}
	opts.ClusterAddrs, opts.WaitReplicas, opts.WaitTimeout = st.ClusterAddrs, st.WaitReplicas, st.WaitTimeout.D()
	if sn := st.Sentinel; sn != nil {
		opts.SentinelMaster, opts.SentinelAddrs, opts.SentinelPassword = sn.MasterName, sn.Addrs, sn.Password
	}
	u := st.URL
	poolKey := "redis\x00" + u + "\x00" + st.KeyPrefix + "\x00" + strings.Join(st.ClusterAddrs, ",")
	if st.Sentinel != nil {
		poolKey += "\x00" + st.Sentinel.MasterName + "\x00" + strings.Join(st.Sentinel.Addrs, ",")
	}
	val, _, err := stores.LoadOrNew(poolKey, func() (caddy.Destructor, error) {
		return redisstore.Open(ctx, opts)
	})
	if err != nil {
		// The store's error names the host, never the password.
		return nil, fmt.Errorf("storage redis: %w", err)
	}
	h.st = val.(store.Store)
	h.poolKey = poolKey
	return []byte(o.Key), nil
}
