#!/usr/bin/env bash
# bench/soak.sh — a long run of mixed traffic against Caddy with resetgate,
# sampling once a minute what must stay flat (issue 15.6). Not part of the
# test suite.
#
#   bench/soak.sh badger            # 15 minutes on Badger
#   bench/soak.sh redis             # 15 minutes on a redis-server it starts
#   SOAK_MINUTES=2 bench/soak.sh badger   # a smoke run
#
# Traffic, all open-loop (bench/loadgen -rate) so that a slow phase does not
# lower the load, for the whole run:
#   - POST /password-reset/request, fresh known and unknown identifiers
#     interleaved (SOAK_REQ_RATE, default 100/s): lookups, flows, tokens,
#     queue entries and mail;
#   - POST /password-reset/verify with well-formed flow ids and wrong codes
#     (SOAK_VERIFY_RATE, 20/s): the 400 CODE_INVALID path;
#   - GET / through resetgate's route to the upstream (pass-through,
#     SOAK_PASS_RATE, 200/s);
#   - every minute, SOAK_COMPLETES (100) tokens issued through the admin API
#     and completed (bench/resetload): the update hook, DeleteOwner, the
#     "changed" mail.
# Sampled at the start and every minute (one line each, and a Markdown table
# at the end): Caddy's RSS (MiB), goroutines (/debug/pprof/goroutine),
# open file descriptors (/proc/<pid>/fd), the store's keys (Redis: DBSIZE;
# Badger: n/a while Caddy holds it), the queues waiting (Redis: keys of the
# request queue and outbox; Badger: n/a), the store's size on disk (Badger:
# du of the directory; Redis: used_memory), mails received by the sink.
#
# What grows by design: tokens and flows live token_ttl (15m) and revoke
# links revoke_ttl (7 days), so a 15-minute run's keys grow until the first
# ones expire; per-IP counters are one key. The queues must stay near zero.
set -euo pipefail
export LC_ALL=C
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BACKEND=${1:-badger}
MINUTES=${SOAK_MINUTES:-15}
REQ_RATE=${SOAK_REQ_RATE:-100}
VERIFY_RATE=${SOAK_VERIFY_RATE:-20}
PASS_RATE=${SOAK_PASS_RATE:-200}
COMPLETES=${SOAK_COMPLETES:-100}
case $BACKEND in badger | redis) ;; *) echo "usage: bench/soak.sh badger|redis" >&2; exit 2 ;; esac

TMP=$(mktemp -d)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT
log() { printf '[soak %s] %s\n' "$(date +%T)" "$*" >&2; }

log "building bin/caddy and the helpers"
go build -o bin/caddy ./xcaddy
for helper in upstream mailsink loadgen resetload; do go build -o "$TMP/$helper" "./bench/$helper"; done
"$TMP/upstream" -addr 127.0.0.1:0 -addr-file "$TMP/upstream.addr" >"$TMP/upstream.log" 2>&1 &
PIDS+=($!)
"$TMP/mailsink" -addr 127.0.0.1:0 -addr-file "$TMP/smtp.addr" >"$TMP/mailsink.log" 2>&1 &
PIDS+=($!)
for f in upstream.addr smtp.addr; do
	for _ in $(seq 100); do [[ -s $TMP/$f ]] && break; sleep 0.05; done
done
mapfile -t PORTS < <("$TMP/loadgen" -free-ports 3)
PORT=${PORTS[0]} ADMIN=127.0.0.1:${PORTS[1]} REDIS_PORT=${PORTS[2]}
UPSTREAM=$(cat "$TMP/upstream.addr")
SMTP=$(cat "$TMP/smtp.addr")
KEY=$(head -c 36 /dev/urandom | base64 | tr '+/' '-_')
SECRET="whsec_$(head -c 32 /dev/urandom | base64)"
BEARER=$(head -c 24 /dev/urandom | base64 | tr '+/' '-_')
BEARER_HASH=$(printf '%s' "$BEARER" | sha256sum | cut -d' ' -f1)

if [[ $BACKEND == redis ]]; then
	redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$TMP" --daemonize no >"$TMP/redis.log" 2>&1 &
	PIDS+=($!)
	for _ in $(seq 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.05; done
	STORAGE="storage redis redis://127.0.0.1:$REDIS_PORT/0"
else
	STORAGE="storage badger $TMP/db"
fi
cat >"$TMP/Caddyfile" <<EOF
{
	admin $ADMIN
	persist_config off
	auto_https off
	storage file_system $TMP/caddy-storage
	log {
		level WARN
	}
}
http://:$PORT {
	bind 127.0.0.1
	password_reset {
		base_url http://localhost:$PORT
		$STORAGE
		key $KEY
		lookup http://$UPSTREAM/internal/users/lookup
		update http://$UPSTREAM/internal/users/password {
			secret $SECRET
		}
		admin_token sha256:$BEARER_HASH tokens:issue
		email smtp $SMTP {
			from "Soak <no-reply@bench.test>"
			tls none
		}
		rate_limit {
			per_ip 100000000 1m
			per_identifier 3 15m
			mail_budget 100000000 1h
		}
	}
	reverse_proxy $UPSTREAM
}
EOF
bin/caddy run --config "$TMP/Caddyfile" --adapter caddyfile >"$TMP/caddy.log" 2>&1 &
CADDY=$!
PIDS+=($CADDY)
for _ in $(seq 200); do curl -fsS -o /dev/null "http://127.0.0.1:$PORT/password-reset/policy" 2>/dev/null && break; sleep 0.05; done

rcli() { redis-cli -p "$REDIS_PORT" "$@"; }
sample() { # sample <minute>
	local rss gor fds keys queued disk
	rss=$(awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$CADDY/status")
	curl -fsS -o "$TMP/goroutines" "http://$ADMIN/debug/pprof/goroutine?debug=1" || true
	gor=$(sed -nE '1s/.*total ([0-9]+).*/\1/p' "$TMP/goroutines")
	fds=$(find "/proc/$CADDY/fd" -mindepth 1 -maxdepth 1 | wc -l)
	if [[ $BACKEND == redis ]]; then
		keys=$(rcli dbsize)
		rcli --scan --pattern '*k:rq/[0-9]*' >"$TMP/q1"
		rcli --scan --pattern '*k:mo/[0-9]*' >"$TMP/q2"
		queued=$(cat "$TMP/q1" "$TMP/q2" | wc -l)
		disk="$(rcli info memory | awk -F: '/^used_memory:/ { printf "%.1f", $2 / 1048576 }')MiB(mem)"
	else
		keys=n/a queued=n/a
		disk="$(du -sm "$TMP/db" | cut -f1)MiB"
	fi
	printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$1" "$rss" "$gor" "$fds" "$keys" "$queued" "$disk" | tee -a "$TMP/samples"
}

log "soak: $BACKEND, $MINUTES minutes, request $REQ_RATE/s, verify $VERIFY_RATE/s, pass-through $PASS_RATE/s, $COMPLETES completes a minute"
SECS=$((MINUTES * 60))
"$TMP/loadgen" -addr "127.0.0.1:$PORT" -path /password-reset/request -c 4 -d "${SECS}s" -warmup 0s -rate "$REQ_RATE" -expect 202 \
	-case 'known={"identifier":"known-{n}@bench.test"}' -case 'unknown={"identifier":"nobody-{n}@bench.test"}' >"$TMP/req.out" 2>&1 &
PIDS+=($!)
GENS=($!)
"$TMP/loadgen" -addr "127.0.0.1:$PORT" -path /password-reset/verify -c 2 -d "${SECS}s" -warmup 0s -rate "$VERIFY_RATE" -expect 400 \
	-case 'wrong={"flow_id":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA{n}","code":"12345678"}' >"$TMP/verify.out" 2>&1 &
PIDS+=($!)
GENS+=($!)
"$TMP/loadgen" -addr "127.0.0.1:$PORT" -path / -c 4 -d "${SECS}s" -warmup 0s -rate "$PASS_RATE" >"$TMP/pass.out" 2>&1 &
PIDS+=($!)
GENS+=($!)

echo "| minute | RSS MiB | goroutines | fds | store keys | queued | store size |" | tee "$TMP/samples"
echo "|---|---|---|---|---|---|---|" | tee -a "$TMP/samples"
sample 0
for m in $(seq "$MINUTES"); do
	"$TMP/resetload" issue -addr "127.0.0.1:$PORT" -bearer "$BEARER" -n "$COMPLETES" -c 4 -from $((m * COMPLETES)) -out "$TMP/tokens" >"$TMP/issue.out" 2>&1 || log "issue failed: $(tail -n 2 "$TMP/issue.out")"
	"$TMP/resetload" complete -addr "127.0.0.1:$PORT" -in "$TMP/tokens" -c 4 >"$TMP/complete.out" 2>&1 || log "complete failed: $(tail -n 2 "$TMP/complete.out")"
	sleep $((60 - SECONDS % 60))
	sample "$m"
done
for p in "${GENS[@]}"; do wait "$p" || true; done
echo
for f in req verify pass; do grep -E '^RESULT case=(all|get|wrong) ' "$TMP/$f.out" | sed "s/^/$f: /" || true; done
grep '^RESULT' "$TMP/complete.out" | sed 's/^/complete (last minute): /' || true
echo "caddy warnings/errors logged: $(grep -c '"level":"\(warn\|error\)"' "$TMP/caddy.log" || true)"
