#!/usr/bin/env bash
# bench/openloop.sh — where the tail of POST /password-reset/request goes
# at a fixed rate (bench/run.sh's open8fix / open8var rows), on a Caddy of
# its own started fresh for every run:
#
#   bench/openloop.sh [runs]        # default 3
#
# Each run starts bench/upstream, bench/mailsink and bin/caddy on
# bench/Caddyfile in a throwaway directory, sends BENCH_RATE requests/s
# from 8 connections for 4 s after 1 s of warm-up (bench/loadgen -rate:
# known-N and nobody-N, a fresh identifier every request, so every request
# is looked up and known ones get a flow and, within mail_budget, a mail),
# and prints the latency line with the CPU each process took meanwhile
# (cores, from /proc over 3 s in the middle of the run), so that the tail
# can be read against how busy the machine was and who made it busy.
#
# Tunables (environment):
#   OPENLOOP_FIXED=1   the same two identifiers instead (the open8fix
#                      row: settled in the handler, no lookup)
#   OPENLOOP_PROFILE=<file>  also a 4 s CPU profile of Caddy, during the
#                      last run, written to <file>
#   OPENLOOP_ALLOCS=<file>  also what Caddy allocated during the last
#                      run's measured load: /debug/pprof/allocs taken as
#                      it begins (<file>.base) and as it ends (<file>);
#                      read with go tool pprof -sample_index=alloc_space
#                      -base <file>.base <caddy> <file>
#   BENCH_RATE (2000)  requests/s
#   OPENLOOP_CADDY     a Caddy binary to use instead of building bin/caddy
#   OPENLOOP_SETTLE (0)  seconds to wait after Caddy answers, before the load
#   OPENLOOP_SECONDS (4)  measured seconds per run
#   OPENLOOP_TIMELINE=1  also print, per run, every 100 ms window whose
#                      slowest request took over 10 ms, beside Badger's
#                      table files at that time (their count: a memtable
#                      flushed adds one; a compaction adds several, then
#                      removes its inputs), from loadgen -timeline and a
#                      watch of the database directory every 50 ms
#   OPENLOOP_PRELOAD (0)  seconds of fresh-identifier requests at
#                      saturation (8 connections) before the measured load,
#                      then a wait until Caddy is idle, as bench/run.sh's
#                      open8var row follows its var8 and var64 rows: the
#                      mail budget spent, Badger holding their records
#                      (without it the first thousand known requests of the
#                      measured load each get a mail)
set -euo pipefail
export LC_ALL=C

RUNS=${1:-3}
RATE=${BENCH_RATE:-2000}
CLK_TCK=$(getconf CLK_TCK)
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
TMP=$(mktemp -d /tmp/resetgate-openloop.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$TMP"' EXIT
die() {
	printf 'bench/openloop.sh: %s\n' "$*" >&2
	exit 1
}
# shellcheck source=bench/lib.sh
. bench/lib.sh

CADDY=${OPENLOOP_CADDY:-}
if [[ -z $CADDY ]]; then
	go build -o bin/caddy ./xcaddy || die "building Caddy with resetgate failed (output above)"
	CADDY=$ROOT/bin/caddy
fi
for helper in upstream mailsink loadgen; do
	go build -o "$TMP/$helper" "./bench/$helper" || die "building bench/$helper failed (output above)"
done

if [[ ${OPENLOOP_FIXED:-0} == 1 ]]; then
	KNOWN='known={"identifier":"known@bench.test"}' UNKNOWN='unknown={"identifier":"nobody@bench.test"}'
else
	KNOWN='known={"identifier":"known-{n}@bench.test"}' UNKNOWN='unknown={"identifier":"nobody-{n}@bench.test"}'
fi

# cpu <seconds> <name=pid>...: the cores each process took over the window.
cpu() {
	local secs=$1 kv before=() after=() i
	shift
	for kv in "$@"; do before+=("$(ticks "${kv#*=}")"); done
	sleep "$secs"
	for kv in "$@"; do after+=("$(ticks "${kv#*=}")"); done
	i=0
	for kv in "$@"; do
		awk -v n="${kv%%=*}" -v d=$((after[i] - before[i])) -v s="$secs" -v hz="$CLK_TCK" \
			'BEGIN { printf "%s %.2f  ", n, d / hz / s }'
		i=$((i + 1))
	done
}
idle() { # idle <pid>: wait (at most 60 s) until it takes under 15% of a core for 0.2 s
	local i t0
	for i in $(seq 300); do
		t0=$(ticks "$1")
		sleep 0.2
		(($(ticks "$1") - t0 <= 3 * CLK_TCK / 100)) && return 0
	done
	printf 'bench/openloop.sh: Caddy still busy 60 s after the preload; measuring anyway\n' >&2
}

timeline() { # timeline <run dir>: OPENLOOP_TIMELINE's lines
	awk 'NR == FNR { at[NR] = $1; sst[NR] = $2; mem[NR] = $3; n = NR; next }
		FNR == 1 { for (i = 2; i <= n; i++) if (sst[i] != sst[i - 1] || mem[i] != mem[i - 1])
			printf "  %6.1f s  Badger: %d table files, %d memtables\n", at[i] / 1000, sst[i], mem[i] }
		$3 > 10000 { printf "  %6.1f s  %d requests, the slowest %.1f ms\n", $1 / 1000, $2, $3 / 1000 }' \
		"$1/tables" "$1/timeline" | sort -n -k1,1
}

one() { # one <run number> <profile file or ""> <allocs file or "">
	local d=$TMP/run$1 gen
	start_parts "$d" openloop
	sleep "${OPENLOOP_SETTLE:-0}"
	if [[ ${OPENLOOP_PRELOAD:-0} != 0 ]]; then
		"$TMP/loadgen" -addr "127.0.0.1:$RG_PORT" -path /password-reset/request -c 8 -d "${OPENLOOP_PRELOAD}s" -expect 202 \
			-case 'known={"identifier":"known-pre{n}@bench.test"}' -case 'unknown={"identifier":"nobody-pre{n}@bench.test"}' >"$d/pre.out" 2>&1 ||
			die "preload failed: $(tail -n 3 "$d/pre.out")"
		idle "$CADDY_PID"
	fi
	if [[ -n $2 ]]; then
		(sleep 1 && curl -fsS -o "$2" "http://$ADMIN_ADDR/debug/pprof/profile?seconds=4") &
	fi
	local watch=""
	if [[ ${OPENLOOP_TIMELINE:-0} == 1 ]]; then
		# Badger's table files (.sst) and memtables (.mem), every 50 ms,
		# with the time since the measured load began (after the warm-up).
		(
			t0=$(($(date +%s%N) + 1000000000))
			while :; do
				printf '%d %d %d\n' $((($(date +%s%N) - t0) / 1000000)) \
					"$(find "$d/db" -name '*.sst' | wc -l)" "$(find "$d/db" -name '*.mem' | wc -l)"
				sleep 0.05
			done
		) >"$d/tables" &
		watch=$!
	fi
	"$TMP/loadgen" -addr "127.0.0.1:$RG_PORT" -path /password-reset/request -c 8 -d "${OPENLOOP_SECONDS:-4}s" -warmup 1s -rate "$RATE" -expect 202 \
		-timeline "$d/timeline" -case "$KNOWN" -case "$UNKNOWN" >"$d/gen.out" 2>&1 &
	gen=$!
	if [[ -n $3 ]]; then
		(sleep 1 && curl -fsS -o "$3.base" "http://$ADMIN_ADDR/debug/pprof/allocs") || printf "allocs profile failed\n" >&2
	fi
	sleep 1.5
	local cores
	cores=$(cpu 3 caddy=$CADDY_PID upstream=$UP_PID mailsink=$MS_PID loadgen=$gen)
	wait "$gen" || die "loadgen failed: $(tail -n 3 "$d/gen.out")"
	if [[ -n $3 ]]; then
		curl -fsS -o "$3" "http://$ADMIN_ADDR/debug/pprof/allocs" || printf "allocs profile failed\n" >&2
	fi
	[[ -z $2 ]] || wait %?profile 2>/dev/null || printf "profile failed\n" >&2
	printf 'run %d: %s | cores: %s\n' "$1" "$(grep '^RESULT case=all' "$d/gen.out" | grep -o 'p50_us=[0-9.]* p90_us=[0-9.]* p99_us=[0-9.]* p999_us=[0-9.]* max_us=[0-9.]*')" "$cores"
	if [[ -n $watch ]]; then
		kill "$watch" 2>/dev/null || true
		wait "$watch" 2>/dev/null || true
		timeline "$d"
	fi
	kill "$CADDY_PID" "$UP_PID" "$MS_PID" 2>/dev/null || true
	wait "$CADDY_PID" "$UP_PID" "$MS_PID" 2>/dev/null || true
}

printf '%s req/s, 8 connections, %s identifiers, a fresh Caddy per run (%s)\n' "$RATE" \
	"$([[ ${OPENLOOP_FIXED:-0} == 1 ]] && printf 'the same two' || printf 'fresh')" "$CADDY"
for i in $(seq "$RUNS"); do
	prof="" allocs=""
	if [[ $i == "$RUNS" ]]; then
		prof=${OPENLOOP_PROFILE:-} allocs=${OPENLOOP_ALLOCS:-}
	fi
	one "$i" "$prof" "$allocs"
done
[[ -n ${OPENLOOP_PROFILE:-} ]] && printf 'profile: %s (go tool pprof -top -cum %s %s)\n' "$OPENLOOP_PROFILE" "$CADDY" "$OPENLOOP_PROFILE"
[[ -n ${OPENLOOP_ALLOCS:-} ]] && printf 'allocations: %s (go tool pprof -sample_index=alloc_space -top -base %s.base %s %s)\n' "$OPENLOOP_ALLOCS" "$OPENLOOP_ALLOCS" "$CADDY" "$OPENLOOP_ALLOCS"
exit 0
