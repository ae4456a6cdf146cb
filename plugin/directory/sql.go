package directory

import (
	"context"
	"errors"

	"go.uber.org/zap"
)

// SQLConfig is `users sql <driver> <dsn> { … }`. (Stub: filled in by the
// SQL backend.)
type SQLConfig struct{}

// Validate checks the SQL config.
func (c *SQLConfig) Validate() error { return errors.New("users sql: not implemented yet") }

// OpenSQL opens the database and prepares every statement.
func OpenSQL(ctx context.Context, c SQLConfig, logger *zap.Logger) (Directory, error) {
	return nil, errors.New("users sql: not implemented yet")
}
