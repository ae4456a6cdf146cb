// Badger's options, tuned for a small database beside a web server.

package badger

import (
	badgerdb "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"go.uber.org/zap"
)

// Memory profile. Badger's defaults allocate about 85 MiB of heap at Open,
// nearly all of it the 64 MiB memtable arena (plus 15% of it twice for the
// largest batch); a sidecar holding short-lived tokens needs far less.
// Open's heap with this profile is measured by TestOpenHeap: 9.3 MiB
// (go1.26.8, linux/amd64, Badger v4.9.6; 4 MiB of it the owner filter,
// ownerfilter.go, whose pages stay untouched until owners hash into them),
// against 85.6 MiB with Badger's defaults. The memtable size hardly moves the CPU cost of a Consume
// (BenchmarkConsume: about 15 µs of CPU per consume at 4 MiB and at 16
// MiB), so the small one is kept.
const (
	// memTableSize is the size of one memtable's arena, allocated at Open.
	// About 20k small entries each; a full one is flushed to a level-0
	// table in the background.
	memTableSize = 4 << 20

	// numMemtables bounds the memtables in memory at once (the active one
	// plus those waiting to be flushed), and so the memory a write burst
	// can take.
	numMemtables = 3

	// valueThreshold: values up to this size live in the LSM tree next to
	// their keys; larger ones go to the value log. Badger requires it to be
	// at most 15% of memTableSize (the largest batch), so it must come down
	// with the memtable: Badger's 1 MiB default makes Open fail here.
	// resetgate's values (tokens' records, flow state, WebAuthn session
	// data) are far below it, so the value log acts as a write-ahead log
	// only and value-log GC rarely has work.
	valueThreshold = 64 << 10

	// tableSize is the size of a level-1 table (deeper levels' tables are
	// larger by Badger's multiplier). Badger's default is 2 MiB.
	tableSize = 1 << 20

	// valueLogFileSize is the size of one value-log file. Badger's default
	// is 1 GiB; smaller files are rewritten by GC in smaller steps. It is
	// also the largest value that can be stored.
	valueLogFileSize = 64 << 20
)

// badgerOptions turns Options into Badger's options with the memory
// profile above.
func badgerOptions(opts Options, log *zap.Logger) badgerdb.Options {
	bo := badgerdb.DefaultOptions(opts.Dir)
	if opts.InMemory {
		bo = badgerdb.DefaultOptions("").WithInMemory(true)
	}
	return bo.
		WithLogger(zapLogger{l: log}).
		WithMemTableSize(memTableSize).
		WithNumMemtables(numMemtables).
		WithValueThreshold(valueThreshold).
		WithValueLogFileSize(valueLogFileSize).
		// Keys are keyed hashes and values mostly random bytes: compression
		// gains little, and without it no block cache is needed (tables
		// are read through mmap). Badger's default is a 256 MiB cache.
		WithCompression(options.None).
		WithBlockCacheSize(0).
		// Without encryption Badger reads table indexes and bloom filters
		// straight from the mmapped table files; a cache would only add
		// heap. With a million tokens stored the heap settles at 8-38 MiB,
		// near the low end once compactions finish (the files' pages count
		// as page cache, not heap; bench/tokenmem measures both).
		WithIndexCacheSize(0).
		// Two compactors is Badger's minimum (one is refused) and plenty
		// for this write rate on a small machine.
		WithNumCompactors(2).
		// A compaction builds up to 8 tables at once, each in a buffer
		// twice the table's size, and keeps the buffers pooled for a few
		// seconds after. Loading a million tokens with owners as fast as
		// possible peaked at 252 MiB of heap with Badger's 2 MiB tables and
		// 134-205 MiB with 1 MiB ones (three runs of bench/tokenmem on a
		// loaded machine); once idle the heap is back near 8-38 MiB.
		WithBaseTableSize(tableSize).
		// Level 0 takes up to 10 tables before compacting them into level
		// 1 (Badger's default: 5), and stalls writes at 30 (15): under a
		// flood of reset requests (one small record each) each compaction
		// then merges twice as much per rewrite of level 1. Measured with
		// bench's BenchmarkRequestHandler over 400k requests, interleaved
		// three times on a loaded machine: 49 -> 42 µs of CPU per request,
		// and fewer write stalls. A read looks at up to 10 level-0 tables,
		// each behind a bloom filter.
		WithNumLevelZeroTables(10).
		WithNumLevelZeroTablesStall(30).
		// The expvar metrics are process-global and unused here.
		WithMetricsEnabled(false).
		// Conflict detection is what makes Consume, CompareAndSwap and
		// PutIfAbsent single-winner: it must stay on (Badger's default).
		WithDetectConflicts(true)
}
