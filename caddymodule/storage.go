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
	badgerstore "github.com/resetgate/resetgate/store/badger"
)

// stores shares open Badger databases across config loads, keyed by
// absolute directory: Caddy provisions the new config before it cleans up
// the old one, and Badger allows one opener per directory.
var stores = caddy.NewUsagePool()

// openStore opens (or reuses) the configured store and returns the server
// key.
func (h *Handler) openStore(ctx caddy.Context, repl *caddy.Replacer) ([]byte, error) {
	backend, dir := "badger", ""
	if h.Storage != nil {
		if h.Storage.Backend != "" {
			backend = h.Storage.Backend
		}
		dir = h.Storage.Dir
	}
	if backend != "badger" {
		return nil, fmt.Errorf("storage: unknown backend %q (want badger)", backend)
	}
	if dir == "" {
		dir = filepath.Join(caddy.AppDataDir(), "resetgate")
	}
	dir, err := resolve(repl, "storage dir", dir)
	if err != nil {
		return nil, err
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, fmt.Errorf("storage dir: %w", err)
	}
	key, err := h.serverKey(repl, dir)
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
	h.st = val.(*badgerstore.Store)
	h.poolKey = dir
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
func (h *Handler) serverKey(repl *caddy.Replacer, dir string) ([]byte, error) {
	if h.Key != "" {
		k, err := resolve(repl, "key", h.Key)
		if err != nil {
			return nil, err
		}
		if len(k) < plugin.MinKeyLength {
			return nil, fmt.Errorf("key must be at least %d characters", plugin.MinKeyLength)
		}
		return []byte(k), nil
	}
	path := strings.TrimSuffix(dir, string(filepath.Separator)) + ".key"
	if data, err := os.ReadFile(path); err == nil {
		k := strings.TrimSpace(string(data))
		if len(k) < plugin.MinKeyLength {
			return nil, fmt.Errorf("key file %s is shorter than %d characters", path, plugin.MinKeyLength)
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
		return h.serverKey(repl, dir) // another instance made it first
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
