#!/usr/bin/env bash
# bench/cpudiff.sh — where POST /password-reset/request spends the CPU that
# Caddy's own `respond` does not (bench/run.sh's "request < 60 µs of Caddy
# CPU per request" row, whose control is respond):
#
#   bench/cpudiff.sh [rounds]       # default 2
#
# It starts bench/upstream, bench/mailsink and bin/caddy on bench/Caddyfile
# in a throwaway directory and sends the same POST body from 8 connections
# (bench/loadgen, closed loop) to respond "ok" 202 (site C) and to
# resetgate's request route (site B), in turn, `rounds` times each. The
# body is {"identifier":"nobody@bench.test"}, over its per-identifier
# limit after the warm-up, as in run.sh's b8 rows: settled in the handler
# (a sealed decoy flow id and the wait for one Badger commit). During
# every run it takes a CPU profile of Caddy (the admin endpoint) over the
# measured seconds and Caddy's CPU from /proc, then prints
#
#   - Caddy's CPU per request for each route (from /proc), and
#   - the functions whose CPU per request differs most between the two
#     (the profiles of each route merged, divided by the requests loadgen
#     counted while they were taken): cumulative µs per request, so a row
#     counts what the function calls; the flat view (CPUDIFF_VIEW=flat)
#     counts only the function's own code (over every function, not only
#     the rows printed, its differences add up to the whole one).
#
# The profiles' total and /proc's figure differ by a few per cent (the
# profiler samples every 10 ms); the breakdown is for where, not how
# much. Run it on a quiet machine: another process on the cores shows up
# in both routes' CPU per request, unevenly.
#
# Tunables (environment):
#   CPUDIFF_SECONDS (5)  measured seconds per run (after 1 s of warm-up)
#   CPUDIFF_TOP (30)     rows printed
#   CPUDIFF_VIEW (cum)   cum or flat
#   CPUDIFF_CADDY        a Caddy binary to use instead of building bin/caddy
#   CPUDIFF_KEEP=<dir>   keep the profiles there (respond-N.pprof,
#                        request-N.pprof)
set -euo pipefail
export LC_ALL=C

ROUNDS=${1:-2}
SECS=${CPUDIFF_SECONDS:-5}
TOP=${CPUDIFF_TOP:-30}
VIEW=${CPUDIFF_VIEW:-cum}
CLK_TCK=$(getconf CLK_TCK)
cd "$(dirname "${BASH_SOURCE[0]}")/.."
TMP=$(mktemp -d /tmp/resetgate-cpudiff.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$TMP"' EXIT
die() {
	printf 'bench/cpudiff.sh: %s\n' "$*" >&2
	exit 1
}
# shellcheck source=bench/lib.sh
. bench/lib.sh
[[ $VIEW == cum || $VIEW == flat ]] || die "CPUDIFF_VIEW must be cum or flat, not $VIEW"

CADDY=${CPUDIFF_CADDY:-}
if [[ -z $CADDY ]]; then
	go build -o bin/caddy ./xcaddy || die "building Caddy with resetgate failed (output above)"
	CADDY=$(pwd)/bin/caddy
fi
for helper in upstream mailsink loadgen; do
	go build -o "$TMP/$helper" "./bench/$helper" || die "building bench/$helper failed (output above)"
done

start_parts "$TMP/parts" cpudiff

BODY='{"identifier":"nobody@bench.test"}'
declare -A N CPU # requests and Caddy ticks per route, over the rounds
N[respond]=0 N[request]=0 CPU[respond]=0 CPU[request]=0
run() { # run <route> <port> <round>
	local out c0 c1 n
	(sleep 1 && curl -fsS -o "$TMP/$1-$3.pprof" "http://$ADMIN_ADDR/debug/pprof/profile?seconds=$SECS") &
	local prof=$!
	sleep 0.9
	c0=$(ticks "$CADDY_PID")
	out=$("$TMP/loadgen" -addr "127.0.0.1:$2" -path /password-reset/request -c 8 -d "${SECS}s" -warmup 0.1s -expect 202 \
		-case "x=$BODY" 2>&1) || die "loadgen failed on $1: $(tail -n 3 <<<"$out")"
	c1=$(ticks "$CADDY_PID")
	wait "$prof" || die "profiling Caddy failed during $1"
	n=$(grep -o '^RESULT case=x .*' <<<"$out" | grep -o ' n=[0-9]*' | cut -d= -f2)
	[[ -n $n && $n -gt 0 ]] || die "no requests counted on $1: $out"
	N[$1]=$((N[$1] + n))
	CPU[$1]=$((CPU[$1] + c1 - c0))
}
# Warm-up: the identifier goes over its limit, Badger's batcher and the
# connections settle.
"$TMP/loadgen" -addr "127.0.0.1:$RG_PORT" -path /password-reset/request -c 8 -d 2s -expect 202 -case "x=$BODY" >/dev/null 2>&1 ||
	die "warm-up failed"
for r in $(seq "$ROUNDS"); do
	run respond "$RESPOND_PORT" "$r"
	run request "$RG_PORT" "$r"
done
if [[ -n ${CPUDIFF_KEEP:-} ]]; then
	mkdir -p "$CPUDIFF_KEEP"
	cp "$TMP"/*.pprof "$CPUDIFF_KEEP"/
fi

# top <route>: "<µs per request> <function>" per line, cum or flat.
top() {
	go tool pprof -top -cum -unit=us -nodecount=100000 "$CADDY" "$TMP/$1"-*.pprof 2>/dev/null |
		awk -v n="${N[$1]}" -v view="$VIEW" '
			$2 ~ /%$/ && $5 ~ /%$/ {
				v = (view == "flat") ? $1 : $4; sub(/us$/, "", v)
				name = $6; for (i = 7; i <= NF; i++) name = name " " $i
				printf "%.4f\t%s\n", v / n, name
			}'
}
top respond >"$TMP/a.txt"
top request >"$TMP/b.txt"
[[ -s $TMP/a.txt && -s $TMP/b.txt ]] || die "go tool pprof read no profile"

printf 'Caddy CPU per request, 8 connections, %s, %d × %d s per route (from /proc):\n' "$BODY" "$ROUNDS" "$SECS"
awk -v a="${CPU[respond]}" -v na="${N[respond]}" -v b="${CPU[request]}" -v nb="${N[request]}" -v hz="$CLK_TCK" 'BEGIN {
	ra = a / hz * 1e6 / na; rb = b / hz * 1e6 / nb
	printf "  respond %.1f µs (%d requests), request %.1f µs (%d requests): %.1f µs more, ×%.2f\n\n", ra, na, rb, nb, rb - ra, rb / ra
}'
printf '%s µs per request in the profiles, the %d largest differences:\n\n' "$VIEW" "$TOP"
printf '| function | respond | request | request − respond |\n|---|---:|---:|---:|\n'
awk -F'\t' 'NR == FNR { a[$2] = $1; next } { b[$2] = $1 }
	END {
		for (k in a) d[k] = b[k] - a[k]
		for (k in b) d[k] = b[k] - a[k]
		for (k in d) printf "%.4f\t%.2f\t%.2f\t%s\n", d[k], a[k], b[k], k
	}' "$TMP/a.txt" "$TMP/b.txt" |
	sort -t$'\t' -k1,1gr | head -n "$TOP" |
	awk -F'\t' '{ printf "| `%s` | %.2f | %.2f | %+.2f |\n", $4, $2, $3, $1 }'
