package redis

import (
	"context"
	"errors"
	"fmt"

	goredis "github.com/redis/go-redis/v9"
)

// Options.WaitReplicas: every write followed by WAIT on the connection
// that wrote it.

// errNotReplicated is the cause of a write that fewer replicas than
// Options.WaitReplicas acknowledged in time.
var errNotReplicated = errors.New("the write reached the primary but not enough replicas in time")

// run runs a script; with WaitReplicas, followed by WAIT on the same
// connection (a pipeline). The script is then sent whole (EVAL): a new
// primary after a failover has an empty script cache.
func (s *Store) run(ctx context.Context, sc *goredis.Script, keys []string, args ...any) *goredis.Cmd {
	if s.waitReplicas <= 0 {
		return sc.Run(ctx, s.client, keys, args...)
	}
	pipe := s.client.Pipeline()
	cmd := sc.Eval(ctx, pipe, keys, args...)
	return s.waited(ctx, pipe, cmd)
}

// do sends one command; with WaitReplicas, followed by WAIT.
func (s *Store) do(ctx context.Context, args ...any) *goredis.Cmd {
	if s.waitReplicas <= 0 {
		return s.client.Do(ctx, args...)
	}
	pipe := s.client.Pipeline()
	cmd := pipe.Do(ctx, args...)
	return s.waited(ctx, pipe, cmd)
}

func (s *Store) waited(ctx context.Context, pipe goredis.Pipeliner, cmd *goredis.Cmd) *goredis.Cmd {
	wait := pipe.Do(ctx, "WAIT", s.waitReplicas, s.waitTimeout.Milliseconds())
	_, _ = pipe.Exec(ctx) // each command keeps its own error
	if cmd.Err() != nil && !errors.Is(cmd.Err(), goredis.Nil) {
		return cmd
	}
	n, err := wait.Int64()
	switch {
	case err != nil:
		cmd.SetErr(err)
	case n < int64(s.waitReplicas):
		cmd.SetErr(fmt.Errorf("%w (%d of %d within %v)", errNotReplicated, n, s.waitReplicas, s.waitTimeout))
	}
	return cmd
}
