#!/usr/bin/env bash
# bench/durable.sh — what durable acceptance (the request queue in the
# store, issue 15.1) costs the 202: p50/p99 of POST /password-reset/request
# for a Caddy built from BEFORE (a git ref, default: the parent of the first
# commit that added plugin/requestqueue.go) and one built from the work
# tree, in one run, in the order A B B A (repeated), with bench/Caddyfile
# (Badger), fresh known and unknown identifiers interleaved on every
# connection (bench/loadgen), 8 connections.
#
#   bench/durable.sh                       # BENCH_DUR_SECONDS=3 BENCH_DUR_ROUNDS=2
#   BEFORE=main bench/durable.sh
#
# Short runs only: on a shared 2-core machine, read the figures side by
# side, not as absolutes.
set -euo pipefail
export LC_ALL=C
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
SECS=${BENCH_DUR_SECONDS:-3}
ROUNDS=${BENCH_DUR_ROUNDS:-2}
CONNS=${BENCH_DUR_CONNS:-8}
if [[ -z ${BEFORE:-} ]]; then
	first=$(git log --diff-filter=A --format=%H -- plugin/requestqueue.go | tail -n 1)
	BEFORE="${first}^"
fi
TMP=$(mktemp -d)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	git worktree remove --force "$TMP/before-src" >/dev/null 2>&1 || true
	rm -rf "$TMP"
}
trap cleanup EXIT
log() { printf '[durable %s] %s\n' "$(date +%T)" "$*" >&2; }

log "building the work tree's caddy and $BEFORE's"
go build -o "$TMP/caddy-after" ./xcaddy
git worktree add --detach "$TMP/before-src" "$BEFORE" >/dev/null 2>&1
(cd "$TMP/before-src" && go build -o "$TMP/caddy-before" ./xcaddy)
for helper in upstream mailsink loadgen; do go build -o "$TMP/$helper" "./bench/$helper"; done

"$TMP/upstream" -addr 127.0.0.1:0 -addr-file "$TMP/upstream.addr" >"$TMP/upstream.log" 2>&1 &
PIDS+=($!)
"$TMP/mailsink" -addr 127.0.0.1:0 -addr-file "$TMP/smtp.addr" >"$TMP/mailsink.log" 2>&1 &
PIDS+=($!)
for f in upstream.addr smtp.addr; do
	for _ in $(seq 100); do [[ -s $TMP/$f ]] && break; sleep 0.05; done
done
mapfile -t PORTS < <("$TMP/loadgen" -free-ports 2)
export BENCH_TMP="$TMP" BENCH_PLAIN_PORT=${PORTS[0]} BENCH_RG_PORT=${PORTS[1]}
BENCH_UPSTREAM=$(cat "$TMP/upstream.addr")
BENCH_SMTP=$(cat "$TMP/smtp.addr")
BENCH_KEY=$(head -c 36 /dev/urandom | base64 | tr '+/' '-_')
BENCH_SECRET="whsec_$(head -c 32 /dev/urandom | base64)"
BENCH_ADMIN_HASH=$(head -c 24 /dev/urandom | sha256sum | cut -d' ' -f1)
export BENCH_UPSTREAM BENCH_SMTP BENCH_KEY BENCH_SECRET BENCH_ADMIN_HASH

# run <label> <binary>: one measured run on a fresh database.
run() {
	local label=$1 bin=$2 pid line
	rm -rf "$TMP/db" "$TMP/db.key"
	"$bin" run --config bench/Caddyfile --adapter caddyfile >"$TMP/caddy-$label.log" 2>&1 &
	pid=$!
	for _ in $(seq 200); do
		curl -fsS -o /dev/null "http://127.0.0.1:$BENCH_RG_PORT/password-reset/policy" 2>/dev/null && break
		sleep 0.05
	done
	"$TMP/loadgen" -addr "127.0.0.1:$BENCH_RG_PORT" -path /password-reset/request -c "$CONNS" -d "${SECS}s" -expect 202 \
		-case 'known={"identifier":"known-{n}@bench.test"}' -case 'unknown={"identifier":"nobody-{n}@bench.test"}' >"$TMP/gen.out" 2>&1
	line=$(grep '^RESULT case=all ' "$TMP/gen.out" || grep '^RESULT ' "$TMP/gen.out" | tail -n 1)
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	printf '%-7s %s\n' "$label" "$line" | tee -a "$TMP/results"
}
for _ in $(seq "$ROUNDS"); do
	run before "$TMP/caddy-before"
	run after "$TMP/caddy-after"
	run after "$TMP/caddy-after"
	run before "$TMP/caddy-before"
done
echo
echo "median over runs (µs):"
for label in before after; do
	# isort, not gawk's asort: the scripts run under mawk too (README).
	awk -v l="$label" 'function isort(x, n,   i, j, t) {
		for (i = 2; i <= n; i++) { t = x[i] + 0; for (j = i - 1; j >= 1 && x[j] + 0 > t; j--) x[j + 1] = x[j]; x[j + 1] = t }
	}
	$1 == l {
		for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = v[kv[1]] " " kv[2] }
	} END {
		n = split(v["p50_us"], a, " "); isort(a, n); m = split(v["p99_us"], b, " "); isort(b, m); k = split(v["rps"], c, " "); isort(c, k)
		printf "%-7s rps=%s p50_us=%s p99_us=%s (runs=%d)\n", l, c[int((k+1)/2)], a[int((n+1)/2)], b[int((m+1)/2)], n
	}' "$TMP/results"
done
