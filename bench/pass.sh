# bench/pass.sh — part (a) of bench/run.sh, the pass-through figures, by
# the sequential method (BENCH_PASS_METHOD=sequential; the default is
# bench/pass_pair.sh's paired method, which uses the helpers here);
# sourced by run.sh (which provides ROOT, TMP, LOADGEN, HAVE_WRK, PIDS,
# log, die, field, calc, fmt*, note_other and the PASS_* settings).
#
# One Caddy (bench/Caddyfile, its own Badger directory and ports) serves two
# sites that differ only in password_reset in the route; wrk sends GET /
# to one site, then the other, in rounds of A B B A (A without, B with) of
# PASS_S seconds each, until PASS_BUDGET seconds have passed (or for
# PASS_ROUNDS rounds), half of them on a Caddy whose Caddyfile has the two
# sites the other way round (the first site is cheaper, see below). The figure is Caddy's CPU time per request, with ÷
# without, for each adjacent pair of runs, and the mean of those pair
# ratios (a fifth off each end: PASS_TRIM) with a 95% confidence interval.
#
# What makes that steady enough to resolve 1% on a shared 2-core machine:
#   - Caddy runs alone on one CPU (taskset, PASS_CADDY_CPU: the last) with
#     GOMAXPROCS=1, and wrk (one thread) and its own bench/upstream
#     (GOMAXPROCS=1) on the others: no migrations, no idle Ps spinning, and
#     Caddy, the busiest, is the bottleneck, so it is never idle waiting;
#   - Caddy's CPU time is the sum of its threads' on-CPU nanoseconds
#     (/proc/<pid>/task/*/schedstat), not /proc/<pid>/stat's 10 ms ticks
#     (the report checks the two against each other over the whole part);
#   - priority (PASS_NICE, -15; 0 leaves it): the noise is mostly other
#     processes taking Caddy's CPU, which raises Caddy's CPU per request by
#     up to 30% in that run. The part's processes run at that nice value,
#     and so does this session's autogroup (the kernel shares CPU between
#     sessions first, so a plain nice does nothing against other sessions);
#     the autogroup's nice value is put back after the part. The others
#     still get the CPU Caddy leaves, for the 2–3 minutes of the part;
#   - short runs and many pairs, against what noise is left; the "others on
#     Caddy's CPU" column shows it run by run, and the report also gives
#     the pairs where it was quiet.

# Large counts are printed with "%.0f": mawk (Debian's default awk)
# prints "%d" as a C int, so a Caddy's nanoseconds stuck at 2147483647
# (2.1 s) and every run after that read 0 ns.
#
# pass_ns <pid>: the on-CPU time of all the process's threads, in ns.
pass_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f", s }'; }
# pass_busy [cpu]: busy clock ticks of one CPU (or of all of them).
pass_busy() {
	awk -v want="cpu${1:-}" '$1 == want { printf "%.0f", $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat
}
# pass_cpu_check <before ns> <after ns> <what>: dies unless the process's
# CPU time grew over a loaded run (a reading that cannot be used, rather
# than a ratio of zeros).
pass_cpu_check() {
	(($2 > $1)) || die "no CPU time read for $3 over a loaded run ($1 ns before, $2 after, /proc/<pid>/task/*/schedstat): the pass-through figures cannot be taken"
}

# pass_run <A|B> <port>: one load run; appends a result line to PASS_RAW.
pass_run() {
	local c0 u0 b0 a0 t0 c1 u1 b1 a1 t1 line n gen TIMEFORMAT='%3U %3S'
	c0=$(pass_ns "$PASS_CADDY") u0=$(pass_ns "$PASS_UP") b0=$(pass_busy "$PASS_CPU") a0=$(pass_busy) t0=$EPOCHREALTIME
	if [[ $HAVE_WRK == 1 ]]; then
		{ time "${PASS_GEN[@]}" wrk -t1 -c"$PASS_CONNS" -d"${PASS_S}s" -s "$ROOT/bench/wrk.lua" \
			"http://127.0.0.1:$2/" >"$TMP/pass-gen.out" 2>&1; } 2>"$TMP/pass-gen.time" || die "wrk failed (pass-through $1): $(tail -n 3 "$TMP/pass-gen.out")"
		line=$(grep '^WRKRESULT' "$TMP/pass-gen.out") || die "no result from wrk (pass-through $1)"
		n=$(field "$line" requests)
		PASS_BAD=$((PASS_BAD + $(field "$line" errors) + $(field "$line" non2xx)))
	else
		{ time "${PASS_GEN[@]}" "$LOADGEN" -addr "127.0.0.1:$2" -c "$PASS_CONNS" -d "${PASS_S}s" -warmup 0s \
			>"$TMP/pass-gen.out" 2>&1; } 2>"$TMP/pass-gen.time" || die "loadgen failed (pass-through $1)"
		line=$(grep -E '^RESULT case=get ' "$TMP/pass-gen.out") || die "no result from loadgen (pass-through $1)"
		n=$(field "$line" n)
		PASS_BAD=$((PASS_BAD + $(field "$line" errors) + $(field "$line" unexpected)))
	fi
	c1=$(pass_ns "$PASS_CADDY") u1=$(pass_ns "$PASS_UP") b1=$(pass_busy "$PASS_CPU") a1=$(pass_busy) t1=$EPOCHREALTIME
	pass_cpu_check "$c0" "$c1" "Caddy (pid $PASS_CADDY)"
	gen=$(awk '{ print $1 + $2 }' "$TMP/pass-gen.time")
	# others_cpu: cores that anything but Caddy took on Caddy's CPU (other
	# processes, and kernel work not charged to Caddy); other_cores: cores
	# that anything but Caddy, the upstream and the generator took.
	awk -v site="$1" -v n="$n" -v c=$((c1 - c0)) -v u=$((u1 - u0)) -v b=$((b1 - b0)) -v a=$((a1 - a0)) \
		-v w="$(calc "$t1 - $t0")" -v g="$gen" -v hz="$CLK_TCK" -v rps="$(field "$line" rps)" 'BEGIN {
			if (n < 1) n = 1
			oc = (b / hz - c / 1e9) / w; if (oc < 0) oc = 0
			oa = (a / hz - (c + u) / 1e9 - g) / w; if (oa < 0) oa = 0
			printf "%s n=%d rps=%s caddy_us=%.3f upstream_us=%.3f others_cpu=%.3f other_cores=%.3f\n", site, n, rps, c / 1e3 / n, u / 1e3 / n, oc, oa
		}' >>"$PASS_RAW"
	note_other "$(field "$(tail -n 1 "$PASS_RAW")" other_cores)"
}

# pass_tq: an awk function, the two-sided 95% Student's t quantile for df
# degrees of freedom (a table to 30, then the Cornish-Fisher expansion).
pass_tq='function tq(df,  t, z) {
		if (df < 1) return 0
		split("12.71 4.303 3.182 2.776 2.571 2.447 2.365 2.306 2.262 2.228 2.201 2.179 2.160 2.145 2.131 2.120 2.110 2.101 2.093 2.086 2.080 2.074 2.069 2.064 2.060 2.056 2.052 2.048 2.045 2.042", t, " ")
		if (df <= 30) return t[int(df)]
		z = 1.959964
		return z + (z ^ 3 + z) / (4 * df) + (5 * z ^ 5 + 16 * z ^ 3 + 3 * z) / (96 * df ^ 2)
	}'

# pass_stats [trim]: "estimate lo hi sd n se df" of the numbers on stdin:
# the mean with a Student's t 95% interval, or with trim (0.2: a fifth off
# each end) the trimmed mean with the Tukey-McLaughlin interval (the
# winsorized SD, t with n - 2g - 1 degrees of freedom), which one burst of
# other load cannot move. sd is the plain SD either way.
pass_stats() {
	sort -g | awk -v trim="${1:-0}" "$pass_tq"'{ v[NR] = $1; s += $1 } END {
		n = NR; if (n < 1) { print "nan nan nan nan 0 nan 0"; exit }
		m = s / n; for (i = 1; i <= n; i++) q += (v[i] - m) ^ 2
		sd = (n > 1) ? sqrt(q / (n - 1)) : 0
		g = int(trim * n); if (n - 2 * g < 2) g = 0
		est = m; se = (n > 1) ? sd / sqrt(n) : 0; df = n - 1
		if (g > 0) {
			ts = 0; for (i = g + 1; i <= n - g; i++) ts += v[i]; est = ts / (n - 2 * g)
			ws = 0; for (i = 1; i <= n; i++) { w[i] = (i <= g) ? v[g + 1] : (i > n - g) ? v[n - g] : v[i]; ws += w[i] }
			wm = ws / n; wq = 0; for (i = 1; i <= n; i++) wq += (w[i] - wm) ^ 2
			se = sqrt(wq / (n - 1)) / ((1 - 2 * g / n) * sqrt(n)); df = n - 2 * g - 1
		}
		printf "%.6f %.6f %.6f %.6f %d %.6f %d\n", est, est - tq(df) * se, est + tq(df) * se, sd, n, se, df }'
}

# pass_blocks <trim>: "estimate lo hi sd n" of the pair ratios on stdin, in
# blocks of 2 × PASS_BLOCK_ROUNDS[i] pairs, one block per Caddy: the mean of
# the blocks' (trimmed) means with a Student's t interval over the blocks.
# The ratio moves by 1-3% from one Caddy process to the next (whichever
# site comes first in the Caddyfile), more than within one, so the blocks,
# not the pairs, are the independent samples. sd is the plain SD of all
# the pairs; with one block it is pass_stats over the pairs.
pass_blocks() {
	local all r i=1 sd n
	all=$(cat)
	read -r _ _ _ sd n _ _ < <(pass_stats <<<"$all")
	if ((${#PASS_BLOCK_ROUNDS[@]} < 2)); then
		pass_stats "$1" <<<"$all" | cut -d' ' -f1-5
		return
	fi
	PASS_BLOCK_EST=()
	for r in "${PASS_BLOCK_ROUNDS[@]}"; do
		PASS_BLOCK_EST+=("$(tail -n +"$i" <<<"$all" | head -n $((2 * r)) | pass_stats "$1" | cut -d' ' -f1)")
		i=$((i + 2 * r))
	done
	printf '%s\n' "${PASS_BLOCK_EST[@]}" | pass_stats | awk -v sd="$sd" -v n="$n" '{ printf "%s %s %s %s %d\n", $1, $2, $3, sd, n }'
}

# pass_priority: PASS_NICE for the part's processes (prefixes PASS_GEN and
# caddy_pin with nice) and for this session's autogroup; sets PASS_PRIO (what
# was done, for the report) and PASS_AG_OLD (the autogroup's nice before).
pass_priority() {
	PASS_PRIO="none (BENCH_PASS_NICE=0)" PASS_AG_OLD=
	((PASS_NICE != 0)) || return 0
	if ! nice -n "$PASS_NICE" true 2>/dev/null || [[ $(nice -n "$PASS_NICE" nice) != "$PASS_NICE" ]]; then
		PASS_PRIO="none (nice $PASS_NICE not permitted)"
		log "pass-through: cannot run at nice $PASS_NICE (needs CAP_SYS_NICE): measuring at normal priority, expect a wider interval"
		return 0
	fi
	PASS_GEN=(nice -n "$PASS_NICE" "${PASS_GEN[@]}")
	caddy_pin=(nice -n "$PASS_NICE" "${caddy_pin[@]}")
	PASS_PRIO="nice $PASS_NICE"
	if [[ $(cat /proc/sys/kernel/sched_autogroup_enabled 2>/dev/null) == 1 && -w /proc/$$/autogroup ]]; then
		PASS_AG_OLD=$(awk '{ print $NF }' "/proc/$$/autogroup")
		if echo "$PASS_NICE" >"/proc/$$/autogroup" 2>/dev/null; then
			PASS_PRIO+=", and the session's autogroup at nice $PASS_NICE (it was $PASS_AG_OLD)"
		else
			PASS_AG_OLD=
		fi
	fi
}
pass_priority_restore() {
	[[ -z ${PASS_AG_OLD:-} ]] || echo "$PASS_AG_OLD" >"/proc/$$/autogroup" 2>/dev/null || true
	PASS_AG_OLD=
}

# pass_swapped <conf>: $TMP/pass/Caddyfile.swapped, bench/<conf> with the
# two sites' blocks the other way round. Caddy's first site came out
# 0.4–0.8% cheaper per request than its second one even with both plain
# (the control, both orders), so both methods run half of their Caddys
# with each order.
pass_swapped() {
	awk 'BEGIN { RS = ""; ORS = "\n\n" } { p[NR] = $0
		if ($0 ~ /http:\/\/:\{\$BENCH_PLAIN_PORT\} \{/) a = NR; if ($0 ~ /http:\/\/:\{\$BENCH_RG_PORT\} \{/) b = NR }
		END { if (!a || !b) exit 1; t = p[a]; p[a] = p[b]; p[b] = t; for (i = 1; i <= NR; i++) print p[i] }' \
		"$ROOT/bench/$1" >"$TMP/pass/Caddyfile.swapped" || die "bench/$1: no site blocks for BENCH_PLAIN_PORT and BENCH_RG_PORT to swap"
}

# pass_start <name> <Caddyfile> <upstream addr> <ready path>: one Caddy for
# (a), pinned (caddy_pin, from the caller) on fresh ports, its own
# directory $TMP/pass/<name>; waits until both sites answer. Sets
# PASS_CADDY (its pid), PASS_A_PORT and PASS_B_PORT.
pass_start() {
	local ports i
	mapfile -t ports < <("$LOADGEN" -free-ports 4)
	PASS_A_PORT=${ports[0]} PASS_B_PORT=${ports[1]}
	rm -rf "$TMP/pass/$1"
	mkdir -p "$TMP/pass/$1"
	BENCH_TMP="$TMP/pass/$1" BENCH_PLAIN_PORT=${ports[0]} BENCH_RG_PORT=${ports[1]} BENCH_ADMIN="127.0.0.1:${ports[2]}" \
		BENCH_RESPOND_PORT=${ports[3]} BENCH_UPSTREAM="$3" GOMAXPROCS="$PASS_PROCS" \
		XDG_DATA_HOME="$TMP/pass/$1/data" XDG_CONFIG_HOME="$TMP/pass/$1/config" \
		"${caddy_pin[@]}" "$ROOT/bin/caddy" run --config "$2" --adapter caddyfile >"$TMP/caddy-pass$1.log" 2>&1 &
	PIDS+=($!)
	PASS_CADDY=$!
	for i in $(seq 400); do
		curl -fsS -o /dev/null "http://127.0.0.1:$PASS_A_PORT/" 2>/dev/null &&
			curl -fsS -o /dev/null "http://127.0.0.1:$PASS_B_PORT$4" 2>/dev/null && break
		kill -0 "$PASS_CADDY" 2>/dev/null || break
		sleep 0.05
	done
	[[ $(curl -fsS "http://127.0.0.1:$PASS_B_PORT/" 2>/dev/null) == ok ]] || {
		tail -n 30 "$TMP/caddy-pass$1.log" >&2
		die "the pass-through Caddy did not come up, or GET / through resetgate's site did not answer ok (log above)"
	}
}

# pass_through: part (a). Sets A_* (the figures for the summary) and
# PASS_SECTION (the report's section (a), Markdown).
pass_through() {
	local up_addr cpus gen_cpus t_start ticks0 ns0 cfg conf=Caddyfile ready=/password-reset/policy
	# The control (PASS_CONTROL=1): bench/Caddyfile.norg, whose site B is a
	# plain reverse_proxy too, so the ratio is the method's own bias.
	[[ $PASS_CONTROL == 1 ]] && conf=Caddyfile.norg ready=/
	T_PASS=$SECONDS
	PASS_RAW="$TMP/pass-raw.txt" PASS_BAD=0
	: >"$PASS_RAW"
	cpus=$(nproc)
	PASS_CPU=${PASS_CADDY_CPU:-$((cpus - 1))}
	PASS_GEN=() PASS_PIN="none (1 CPU)"
	local caddy_pin=()
	if ((cpus > 1)); then
		gen_cpus=$(seq -s, 0 $((cpus - 1)) | tr ',' '\n' | grep -vx "$PASS_CPU" | paste -sd,)
		caddy_pin=(taskset -c "$PASS_CPU")
		PASS_GEN=(taskset -c "$gen_cpus")
		PASS_PIN="Caddy on CPU $PASS_CPU (GOMAXPROCS=$PASS_PROCS), the generator and bench/upstream (GOMAXPROCS=1) on CPU $gen_cpus"
	fi
	pass_priority
	GOMAXPROCS=1 "${PASS_GEN[@]}" "$TMP/upstream" -addr 127.0.0.1:0 -addr-file "$TMP/pass-upstream.addr" >"$TMP/pass-upstream.log" 2>&1 &
	PIDS+=($!)
	PASS_UP=$!
	wait_file "$TMP/pass-upstream.addr"
	up_addr=$(cat "$TMP/pass-upstream.addr")
	mkdir -p "$TMP/pass"
	pass_swapped "$conf"
	cfg="${PASS_S}s per run, $PASS_CONNS connections, $([[ $PASS_ROUNDS -gt 0 ]] && printf '%s rounds' "$PASS_ROUNDS" || printf 'rounds for %ss' "$PASS_BUDGET")"
	log "pass-through: $cfg; pinned: $PASS_PIN"
	PASS_DONE=0 PASS_TICKS_CHECK= PASS_BLOCK_ROUNDS=()
	local half rounds per=0
	for ((half = 1; half <= PASS_BLOCKS; half++)); do
		local file="$ROOT/bench/$conf"
		((half % 2 == 0)) && file="$TMP/pass/Caddyfile.swapped"
		pass_start "$half" "$file" "$up_addr" "$ready"
		# Warm-up (not counted): both sites, so that connections, pools and
		# the heap are in their steady state.
		pass_run A "$PASS_A_PORT"
		pass_run B "$PASS_B_PORT"
		sed -i '$d' "$PASS_RAW"
		sed -i '$d' "$PASS_RAW"
		ticks0=$(ticks "$PASS_CADDY") ns0=$(pass_ns "$PASS_CADDY")
		t_start=$SECONDS rounds=0
		while :; do
			if ((PASS_ROUNDS > 0)); then
				((rounds >= (PASS_ROUNDS + PASS_BLOCKS - half) / PASS_BLOCKS)) && break
			elif ((half > 1)); then
				((rounds >= per)) && break # as many as in the first block
			elif ((rounds >= 1 && SECONDS - t_start >= PASS_BUDGET / PASS_BLOCKS)); then
				break
			fi
			pass_run A "$PASS_A_PORT"
			pass_run B "$PASS_B_PORT"
			pass_run B "$PASS_B_PORT"
			pass_run A "$PASS_A_PORT"
			rounds=$((rounds + 1))
		done
		((half == 1)) && per=$rounds
		PASS_DONE=$((PASS_DONE + rounds))
		PASS_BLOCK_ROUNDS+=("$rounds")
		PASS_TICKS_CHECK+="${PASS_TICKS_CHECK:+, }$(fmt4 "$(calc "($(pass_ns "$PASS_CADDY") - $ns0) / 1e9 / (($(ticks "$PASS_CADDY") - $ticks0) / $CLK_TCK)")")"
		kill "$PASS_CADDY" 2>/dev/null || true
		wait "$PASS_CADDY" 2>/dev/null || true
	done
	kill "$PASS_UP" 2>/dev/null || true
	wait "$PASS_UP" 2>/dev/null || true
	pass_priority_restore
	cat "$PASS_RAW" >>"$RAW"
	pass_report
	T_PASS=$((SECONDS - T_PASS))
	PASS_SECTION+="

Part (a) took ${T_PASS}s."
}

# pass_report: the figures and the section from PASS_RAW.
pass_report() {
	local pairs rps_pairs quiet
	# One line per adjacent pair: "cpu_ratio rps_ratio max_others_cpu".
	pairs=$(awk '{ for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
		s[NR] = $1; us[NR] = f["caddy_us"]; r[NR] = f["rps"]; o[NR] = f["others_cpu"] }
		END { for (i = 1; i + 1 <= NR; i += 2) { a = (s[i] == "A") ? i : i + 1; b = (a == i) ? i + 1 : i
			printf "%.6f %.6f %.3f\n", us[b] / us[a], r[b] / r[a], (o[a] > o[b] ? o[a] : o[b]) } }' "$PASS_RAW")
	read -r PM_MEAN PM_LO PM_HI _ _ < <(cut -d' ' -f1 <<<"$pairs" | pass_blocks 0)
	pass_blocks "$PASS_TRIM" < <(cut -d' ' -f1 <<<"$pairs") >"$TMP/pass-est.txt"
	read -r A_CPU_PAIR_MEAN A_CPU_CI_LO A_CPU_CI_HI A_CPU_SD A_NPAIRS <"$TMP/pass-est.txt"
	read -r PP_MEAN PP_LO PP_HI _ _ _ _ < <(cut -d' ' -f1 <<<"$pairs" | pass_stats "$PASS_TRIM")
	A_CPU_STAT="mean"
	awk "BEGIN { exit !($PASS_TRIM > 0) }" && A_CPU_STAT="$(fmt0 "$PASS_TRIM * 100")% trimmed mean"
	((${#PASS_BLOCK_ROUNDS[@]} > 1)) && A_CPU_STAT="mean over ${#PASS_BLOCK_ROUNDS[@]} Caddy processes of the $A_CPU_STAT"
	quiet=$(awk -v q="$PASS_QUIET" '$3 < q { print $1 }' <<<"$pairs")
	read -r PQ_MEAN PQ_LO PQ_HI PQ_SD PQ_N _ < <(grep . <<<"$quiet" | pass_stats)
	A_PAIR_MEDIAN=$(cut -d' ' -f1 <<<"$pairs" | sort -g | awk '{ v[NR] = $1 } END { printf "%.4f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
	A_CPU_RANGE=$(cut -d' ' -f1 <<<"$pairs" | sort -g | awk '{ v[NR] = $1 } END { printf "%.3f … %.3f", v[1], v[NR] }')
	rps_pairs=$(cut -d' ' -f2 <<<"$pairs" | sort -g)
	A_PAIR_RANGE=$(awk '{ v[NR] = $1 } END { printf "%.3f … %.3f", v[1], v[NR] }' <<<"$rps_pairs")
	read -r A_WITHOUT A_WITH A_CPU_WITHOUT A_CPU_WITH A_OTHERS_MAX A_OTHERS_MEAN < <(awk '{ for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
		k = $1; c[k]++; r[k] += f["rps"]; u[k] += f["caddy_us"]; oc += f["others_cpu"]; if (f["others_cpu"] > om) om = f["others_cpu"] }
		END { printf "%.1f %.1f %.3f %.3f %.3f %.3f\n", r["A"] / c["A"], r["B"] / c["B"], u["A"] / c["A"], u["B"] / c["B"], om, oc / NR }' "$PASS_RAW")
	A_RATIO=$(calc "$A_WITH / $A_WITHOUT")
	local quiet_text ctl=
	[[ $PASS_CONTROL == 1 ]] && ctl="**Control run (BENCH_PASS_CONTROL=1): bench/Caddyfile.norg, site B is a plain reverse_proxy like A, without password_reset.** \"With\" below means site B; its ratio to A is the bias of the method and the sites, not resetgate.

"
	if ((PQ_N >= 2)); then
		quiet_text="the $PQ_N pairs in which other work took under $PASS_QUIET of Caddy's CPU in both runs: plain mean $(fmt4 "$PQ_MEAN"), 95% CI $(fmt4 "$PQ_LO") … $(fmt4 "$PQ_HI") (SD $(fmt2 "$(calc "$PQ_SD * 100")")%; for reading only, the target is judged on all pairs)"
	else
		quiet_text="no pair had both runs with other work under $PASS_QUIET of Caddy's CPU"
	fi
	PASS_SECTION="## (a) Pass-through: GET / outside the prefix ($PASS_TOOL, $PASS_CONNS connections, ${PASS_S}s per run, $PASS_DONE × A B B A on ${#PASS_BLOCK_ROUNDS[@]} Caddy processes, every other one with the sites' order swapped)

${ctl}Pinned: $PASS_PIN. Priority: $PASS_PRIO. Caddy's CPU per request is the sum of its threads' on-CPU time (/proc/<pid>/task/*/schedstat, ns); over each process it is $PASS_TICKS_CHECK × what /proc/<pid>/stat's clock ticks say. \"Others on Caddy's CPU\": cores that anything but Caddy took on its CPU during the run (other processes, kernel work not charged to Caddy); \"other load\": cores that anything but Caddy, the upstream and wrk took on the machine.

| round | without req/s | with req/s | without Caddy CPU µs/req | with Caddy CPU µs/req | with ÷ without (the 2 pairs) | others on Caddy's CPU (max) | other load (cores, max) |
|---|---|---|---|---|---|---|---|
$(awk '{ for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
	q = int((NR - 1) / 4); s = $1; r[q, s] += f["rps"] / 2; u[q, s] += f["caddy_us"] / 2; us[NR] = f["caddy_us"]; lab[NR] = s
	if (f["others_cpu"] > oc[q]) oc[q] = f["others_cpu"]; if (f["other_cores"] > oa[q]) oa[q] = f["other_cores"] }
	END { for (q = 0; q < NR / 4; q++) { i = 4 * q + 1
		printf "| %d | %.0f | %.0f | %.1f | %.1f | %.3f, %.3f | %.2f | %.2f |\n", q + 1, r[q, "A"], r[q, "B"], u[q, "A"], u[q, "B"], us[i + 1] / us[i], us[i + 2] / us[i + 3], oc[q], oa[q] } }' "$PASS_RAW")

Without: $(fmt0 "$A_WITHOUT") req/s, $(fmt1 "$A_CPU_WITHOUT") µs Caddy CPU per request. With: $(fmt0 "$A_WITH") req/s, $(fmt1 "$A_CPU_WITH") µs. **Ratio with/without: $(fmt3 "$A_RATIO")** (target ≥ 0.98; adjacent pairs range $A_PAIR_RANGE). **Caddy CPU per request, $A_CPU_STAT of the $A_NPAIRS pair ratios: $(fmt4 "$A_CPU_PAIR_MEAN"), 95% CI $(fmt4 "$A_CPU_CI_LO") … $(fmt4 "$A_CPU_CI_HI")** (target: inside 0.99 … 1.01); it is the mean of the ${#PASS_BLOCK_ROUNDS[@]} Caddy processes' trimmed means of their pair ratios ($(for e in "${PASS_BLOCK_EST[@]}"; do printf '%s ' "$(fmt4 "$e")"; done| sed 's/ $//'; printf '; the odd ones with the sites in the Caddyfile'"'"'s order, the even ones swapped')), with a t interval over the processes: the ratio moves from one Caddy process to the next by more than within one. Trimmed (BENCH_PASS_TRIM) because a burst of other work moves a pair by up to 80% (see the range). Had the pairs been independent: $(fmt4 "$PP_MEAN"), 95% CI $(fmt4 "$PP_LO") … $(fmt4 "$PP_HI"). Plain means $(fmt4 "$PM_MEAN"), 95% CI $(fmt4 "$PM_LO") … $(fmt4 "$PM_HI"); SD of a pair ratio $(fmt2 "$(calc "$A_CPU_SD * 100")")%, median $A_PAIR_MEDIAN, range $A_CPU_RANGE; $quiet_text. Other work took up to $(fmt2 "$A_OTHERS_MAX") (mean $(fmt2 "$A_OTHERS_MEAN")) of Caddy's CPU. More Caddy processes and time (BENCH_PASS_BLOCKS, BENCH_PASS_BUDGET) narrow the interval."
	if ((PASS_BAD > 0)); then
		PASS_SECTION+="

**$PASS_BAD pass-through requests failed or got an unexpected status.**"
	fi
}
