# bench/lib.sh — helpers shared by bench/run.sh (and the bench/pass.sh it
# sources), bench/openloop.sh and bench/cpudiff.sh, which source it. For
# start_parts the caller sets TMP (a scratch directory holding the
# upstream, mailsink and loadgen binaries built from bench/), CADDY (a
# Caddy binary) and die.

# ticks <pid>: the process's utime + stime, in clock ticks (0 once it is
# gone).
ticks() {
	local s f
	s=$(cat "/proc/$1/stat" 2>/dev/null) || {
		echo 0
		return
	}
	s=${s##*) }
	read -r -a f <<<"$s"
	echo $((f[11] + f[12]))
}

# start_parts <dir> <admin-hash-seed>: starts bench/upstream,
# bench/mailsink and $CADDY on bench/Caddyfile with <dir> as their scratch
# directory and waits until Caddy answers. Sets UP_PID, MS_PID, CADDY_PID,
# and the addresses RG_PORT (resetgate's site), RESPOND_PORT (respond "ok"
# 202), PLAIN_PORT (plain reverse_proxy) and ADMIN_ADDR (Caddy's admin
# endpoint, for /debug/pprof).
start_parts() {
	local d=$1 ports
	mkdir -p "$d"
	"$TMP/upstream" -addr 127.0.0.1:0 -addr-file "$d/up.addr" >"$d/up.log" 2>&1 &
	UP_PID=$!
	"$TMP/mailsink" -addr 127.0.0.1:0 -addr-file "$d/smtp.addr" >"$d/ms.log" 2>&1 &
	MS_PID=$!
	for _ in $(seq 100); do [[ -s $d/up.addr && -s $d/smtp.addr ]] && break; sleep 0.05; done
	[[ -s $d/up.addr && -s $d/smtp.addr ]] || die "bench/upstream or bench/mailsink did not start"
	mapfile -t ports < <("$TMP/loadgen" -free-ports 4)
	PLAIN_PORT=${ports[0]} RG_PORT=${ports[1]} ADMIN_ADDR=127.0.0.1:${ports[2]} RESPOND_PORT=${ports[3]}
	BENCH_PLAIN_PORT=$PLAIN_PORT BENCH_RG_PORT=$RG_PORT BENCH_ADMIN=$ADMIN_ADDR BENCH_RESPOND_PORT=$RESPOND_PORT \
		BENCH_TMP=$d BENCH_UPSTREAM=$(cat "$d/up.addr") BENCH_SMTP=$(cat "$d/smtp.addr") \
		BENCH_KEY=benchkey0123456789abcdefghijklmnopqrstuvwxyz0123 \
		BENCH_SECRET=whsec_YmVuY2hzZWNyZXQwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OQ== \
		BENCH_ADMIN_HASH=$(printf '%s' "$2" | sha256sum | cut -d' ' -f1) \
		XDG_DATA_HOME=$d/data XDG_CONFIG_HOME=$d/config "$CADDY" run --config bench/Caddyfile --adapter caddyfile >"$d/caddy.log" 2>&1 &
	CADDY_PID=$!
	for _ in $(seq 400); do curl -fsS -o /dev/null "http://127.0.0.1:$RG_PORT/" 2>/dev/null && break; sleep 0.05; done
	curl -fsS -o /dev/null "http://127.0.0.1:$RG_PORT/" || die "Caddy did not start: $(tail -n 5 "$d/caddy.log")"
}
