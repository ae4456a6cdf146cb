# bench/pass_pair.sh — part (a) of bench/run.sh by the paired method (the
# default; BENCH_PASS_METHOD=sequential is bench/pass.sh's A B B A). Sourced
# by run.sh after bench/pass.sh, whose helpers it uses (pass_ns, pass_busy,
# pass_stats, pass_priority, pass_start, pass_swapped).
#
# Why another method: CPU time per request on this machine moves by ±20%
# from one second to the next (the virtual CPU is shared with the host's
# other guests, and the time it is away is charged to whatever ran; this
# kernel reports no steal), and the sequential method, which compares runs
# one after the other, sees all of it: a pair ratio's SD was 10–14%, at 8
# connections and at 1. Two Caddys on the same CPU, loaded at the same
# time, share that noise and cancel it in their ratio.
#
# The method: two Caddy processes on one CPU (PASS_CPU, GOMAXPROCS=1), P1
# with bench/Caddyfile, P2 with its two sites the other way round. Each run
# loads both at once for PASS_S seconds, one site of each, with its own wrk
# (one thread, PASS_PAIR_CONNS connections): first P1's A (without
# resetgate) and P2's B (with), then P1's B and P2's A. A crossed pair of
# such runs gives
#
#     r = sqrt( (B on P2 / A on P1) × (B on P1 / A on P2) )
#
# of Caddy CPU per request (the sum of a process's threads' on-CPU time,
# /proc/<pid>/task/*/schedstat, over the requests its wrk completed), in
# which each process's own speed cancels. PASS_PAIR_BLOCKS fresh pairs of
# processes run PASS_PAIRS crossed pairs each; the figure is the mean over
# the blocks of each block's (trimmed, PASS_TRIM) mean r, with a Student's
# t interval over the blocks.
#
# Connections: 1 per wrk by default. At 8 a saturated Caddy's CPU per
# request depends on how many requests each wake-up finds (the pair ratio's
# SD was 4–5% at 4 and 8 connections against 1.5% at 1); at 1 connection
# the per-request cost includes that wake-up every time, which makes the
# denominator larger (about 180 µs against 100) and the ratio that much
# less sensitive. BenchmarkPassThrough (caddymodule) gives what the
# handler adds in absolute terms.

# pass_pair_run <P1 site> <P1 port> <P2 site> <P2 port>: one run of both
# loads at once; appends a result line to PASS_RAW.
pass_pair_run() {
	local c10 c20 b0 a0 u0 t0 c11 c21 b1 a1 u1 t1 n1 n2 r1 r2 w1 i out line TIMEFORMAT='%3U %3S'
	c10=$(pass_ns "$PASS_P1") c20=$(pass_ns "$PASS_P2") u0=$(pass_ns "$PASS_UP") b0=$(pass_busy "$PASS_CPU") a0=$(pass_busy) t0=$EPOCHREALTIME
	for i in 1 2; do
		local port=$2
		((i == 2)) && port=$4
		out="$TMP/pass-gen$i"
		if [[ $HAVE_WRK == 1 ]]; then
			{ time "${PASS_GEN[@]}" wrk -t1 -c"$PASS_PAIR_CONNS" -d"${PASS_S}s" -s "$ROOT/bench/wrk.lua" \
				"http://127.0.0.1:$port/" >"$out.out" 2>&1; } 2>"$out.time" &
		else
			{ time "${PASS_GEN[@]}" "$LOADGEN" -addr "127.0.0.1:$port" -c "$PASS_PAIR_CONNS" -d "${PASS_S}s" -warmup 0s \
				>"$out.out" 2>&1; } 2>"$out.time" &
		fi
		((i == 1)) && w1=$!
	done
	wait "$w1" || die "the generator failed (pass-through, P1 $1): $(tail -n 3 "$TMP/pass-gen1.out")"
	wait $! || die "the generator failed (pass-through, P2 $3): $(tail -n 3 "$TMP/pass-gen2.out")"
	c11=$(pass_ns "$PASS_P1") c21=$(pass_ns "$PASS_P2") u1=$(pass_ns "$PASS_UP") b1=$(pass_busy "$PASS_CPU") a1=$(pass_busy) t1=$EPOCHREALTIME
	pass_cpu_check "$c10" "$c11" "Caddy P1 (pid $PASS_P1)"
	pass_cpu_check "$c20" "$c21" "Caddy P2 (pid $PASS_P2)"
	for i in 1 2; do
		out="$TMP/pass-gen$i.out"
		if [[ $HAVE_WRK == 1 ]]; then
			line=$(grep '^WRKRESULT' "$out") || die "no result from wrk (pass-through)"
			n=$(field "$line" requests)
			PASS_BAD=$((PASS_BAD + $(field "$line" errors) + $(field "$line" non2xx)))
		else
			line=$(grep -E '^RESULT case=get ' "$out") || die "no result from loadgen (pass-through)"
			n=$(field "$line" n)
			PASS_BAD=$((PASS_BAD + $(field "$line" errors) + $(field "$line" unexpected)))
		fi
		printf -v "n$i" '%s' "$n"
		printf -v "r$i" '%s' "$(field "$line" rps)"
	done
	# others_cpu: what anything but the two Caddys took on their CPU;
	# other_cores: what anything but them, the upstream and the two
	# generators took on the machine.
	awk -v s1="$1" -v s2="$3" -v n1="$n1" -v n2="$n2" -v r1="$r1" -v r2="$r2" -v c1=$((c11 - c10)) -v c2=$((c21 - c20)) \
		-v u=$((u1 - u0)) -v b=$((b1 - b0)) -v a=$((a1 - a0)) -v w="$(calc "$t1 - $t0")" -v hz="$CLK_TCK" \
		-v g="$(cat "$TMP/pass-gen1.time" "$TMP/pass-gen2.time" | awk '{ s += $1 + $2 } END { print s }')" 'BEGIN {
			if (n1 < 1) n1 = 1; if (n2 < 1) n2 = 1
			oc = (b / hz - (c1 + c2) / 1e9) / w; if (oc < 0) oc = 0
			oa = (a / hz - (c1 + c2 + u) / 1e9 - g) / w; if (oa < 0) oa = 0
			printf "block=%d p1=%s p1_n=%d p1_rps=%s p1_us=%.3f p2=%s p2_n=%d p2_rps=%s p2_us=%.3f others_cpu=%.3f other_cores=%.3f\n",
				ENVIRON["PASS_BLOCK"], s1, n1, r1, c1 / 1e3 / n1, s2, n2, r2, c2 / 1e3 / n2, oc, oa
		}' >>"$PASS_RAW"
	note_other "$(field "$(tail -n 1 "$PASS_RAW")" other_cores)"
}

# pass_pair: part (a) by the paired method. Sets A_* and PASS_SECTION.
pass_pair() {
	local conf=Caddyfile ready=/password-reset/policy up_addr cpus gen_cpus caddy_pin=() block j
	[[ $PASS_CONTROL == 1 ]] && conf=Caddyfile.norg ready=/
	T_PASS=$SECONDS
	PASS_RAW="$TMP/pass-raw.txt" PASS_BAD=0
	: >"$PASS_RAW"
	cpus=$(nproc)
	PASS_CPU=${PASS_CADDY_CPU:-$((cpus - 1))}
	PASS_GEN=() PASS_PIN="none (1 CPU)"
	if ((cpus > 1)); then
		gen_cpus=$(seq 0 $((cpus - 1)) | grep -vx "$PASS_CPU" | paste -sd,)
		caddy_pin=(taskset -c "$PASS_CPU")
		PASS_GEN=(taskset -c "$gen_cpus")
		PASS_PIN="both Caddys on CPU $PASS_CPU (GOMAXPROCS=$PASS_PROCS each), the two generators and bench/upstream (GOMAXPROCS=1) on CPU $gen_cpus"
	fi
	pass_priority
	GOMAXPROCS=1 "${PASS_GEN[@]}" "$TMP/upstream" -addr 127.0.0.1:0 -addr-file "$TMP/pass-upstream.addr" >"$TMP/pass-upstream.log" 2>&1 &
	PIDS+=($!)
	PASS_UP=$!
	wait_file "$TMP/pass-upstream.addr"
	up_addr=$(cat "$TMP/pass-upstream.addr")
	mkdir -p "$TMP/pass"
	pass_swapped "$conf"
	log "pass-through (paired): $PASS_PAIR_BLOCKS pairs of Caddy processes × $PASS_PAIRS crossed pairs of ${PASS_S}s runs, $PASS_PAIR_CONNS connection(s) per generator; pinned: $PASS_PIN"
	for ((block = 1; block <= PASS_PAIR_BLOCKS; block++)); do
		export PASS_BLOCK=$block
		pass_start "$block-1" "$ROOT/bench/$conf" "$up_addr" "$ready"
		PASS_P1=$PASS_CADDY P1_A=$PASS_A_PORT P1_B=$PASS_B_PORT
		pass_start "$block-2" "$TMP/pass/Caddyfile.swapped" "$up_addr" "$ready"
		PASS_P2=$PASS_CADDY P2_A=$PASS_A_PORT P2_B=$PASS_B_PORT
		# Warm-up (not counted): every site of both.
		pass_pair_run A "$P1_A" B "$P2_B"
		pass_pair_run B "$P1_B" A "$P2_A"
		sed -i '$d' "$PASS_RAW"
		sed -i '$d' "$PASS_RAW"
		for ((j = 1; j <= PASS_PAIRS; j++)); do
			pass_pair_run A "$P1_A" B "$P2_B"
			pass_pair_run B "$P1_B" A "$P2_A"
		done
		kill "$PASS_P1" "$PASS_P2" 2>/dev/null || true
		wait "$PASS_P1" "$PASS_P2" 2>/dev/null || true
	done
	unset PASS_BLOCK
	kill "$PASS_UP" 2>/dev/null || true
	wait "$PASS_UP" 2>/dev/null || true
	pass_priority_restore
	cat "$PASS_RAW" >>"$RAW"
	pass_pair_report
	T_PASS=$((SECONDS - T_PASS))
	PASS_SECTION+="

Part (a) took ${T_PASS}s."
}

# pass_pair_report: the figures and the section from PASS_RAW.
pass_pair_report() {
	local pairs blocks b est ctl=
	# One line per crossed pair: "block r rps_ratio max_others_cpu", where
	# r is the geometric mean of the two runs' with ÷ without.
	pairs=$(awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
		if (NR % 2 == 1) { x = f["p2_us"] / f["p1_us"]; xr = f["p2_rps"] / f["p1_rps"]; o = f["others_cpu"]; next }
		y = f["p1_us"] / f["p2_us"]; yr = f["p1_rps"] / f["p2_rps"]; if (f["others_cpu"] > o) o = f["others_cpu"]
		printf "%d %.6f %.6f %.3f\n", f["block"], sqrt(x * y), sqrt(xr * yr), o }' "$PASS_RAW")
	PASS_BLOCK_EST=()
	for ((b = 1; b <= PASS_PAIR_BLOCKS; b++)); do
		est=$(awk -v b="$b" '$1 == b { print $2 }' <<<"$pairs" | pass_stats "$PASS_TRIM" | cut -d' ' -f1)
		PASS_BLOCK_EST+=("$est")
	done
	blocks=$(printf '%s\n' "${PASS_BLOCK_EST[@]}")
	read -r A_CPU_PAIR_MEAN A_CPU_CI_LO A_CPU_CI_HI _ _ _ _ < <(pass_stats <<<"$blocks")
	read -r PP_MEAN PP_LO PP_HI A_CPU_SD A_NPAIRS _ _ < <(cut -d' ' -f2 <<<"$pairs" | pass_stats "$PASS_TRIM")
	read -r PM_MEAN PM_LO PM_HI _ _ _ _ < <(cut -d' ' -f2 <<<"$pairs" | pass_stats)
	A_CPU_STAT="mean over $PASS_PAIR_BLOCKS pairs of Caddy processes of the $(fmt0 "$PASS_TRIM * 100")% trimmed mean"
	A_PAIR_MEDIAN=$(cut -d' ' -f2 <<<"$pairs" | sort -g | awk '{ v[NR] = $1 } END { printf "%.4f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
	A_CPU_RANGE=$(cut -d' ' -f2 <<<"$pairs" | sort -g | awk '{ v[NR] = $1 } END { printf "%.3f … %.3f", v[1], v[NR] }')
	A_PAIR_RANGE=$(cut -d' ' -f3 <<<"$pairs" | sort -g | awk '{ v[NR] = $1 } END { printf "%.3f … %.3f", v[1], v[NR] }')
	A_RPS_PAIR_MEAN=$(cut -d' ' -f3 <<<"$pairs" | pass_stats | cut -d' ' -f1)
	# Throughput and CPU per request per site, over both processes.
	read -r A_WITHOUT A_WITH A_CPU_WITHOUT A_CPU_WITH A_OTHERS_MAX A_OTHERS_MEAN < <(awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
		for (p = 1; p <= 2; p++) { k = f["p" p]; c[k]++; r[k] += f["p" p "_rps"]; u[k] += f["p" p "_us"] }
		oc += f["others_cpu"]; if (f["others_cpu"] > om) om = f["others_cpu"] }
		END { printf "%.1f %.1f %.3f %.3f %.3f %.3f\n", r["A"] / c["A"], r["B"] / c["B"], u["A"] / c["A"], u["B"] / c["B"], om, oc / NR }' "$PASS_RAW")
	# The throughput ratio: the crossed pairs' mean (each process's own
	# speed cancels, as for the CPU).
	A_RATIO=$A_RPS_PAIR_MEAN
	[[ $PASS_CONTROL == 1 ]] && ctl="**Control run (BENCH_PASS_CONTROL=1): bench/Caddyfile.norg, site B is a plain reverse_proxy like A, without password_reset.** \"With\" below means site B; its ratio to A is the bias of the method and the sites, not resetgate.

"
	PASS_SECTION="## (a) Pass-through: GET / outside the prefix (paired: two Caddys on one CPU loaded at once, $PASS_TOOL per Caddy, $PASS_PAIR_CONNS connection(s) each, ${PASS_S}s per run, $A_NPAIRS crossed pairs of runs on $PASS_PAIR_BLOCKS pairs of Caddy processes)

${ctl}Pinned: $PASS_PIN. Priority: $PASS_PRIO. P1 runs bench/Caddyfile, P2 the same with its two sites the other way round. Each run loads one site of each at the same time: P1's A (without resetgate) with P2's B (with), then P1's B with P2's A. A crossed pair's ratio is r = √((B on P2 ÷ A on P1) × (B on P1 ÷ A on P2)) of Caddy CPU per request (the sum of the process's threads' on-CPU time, /proc/<pid>/task/*/schedstat, over the requests its generator completed), in which each process's own speed cancels; the noise of a shared virtual CPU, which moves CPU per request by ±20% from one second to the next, falls on both Caddys at once. \"Others on Caddy's CPU\": cores that anything but the two Caddys took on their CPU; \"other load\": cores that anything but them, the upstream and the generators took on the machine.

| block | crossed pairs | trimmed mean r | r (each pair) | A µs/req (P1, P2) | B µs/req (P1, P2) | others on Caddy's CPU (max) | other load (cores, max) |
|---|---|---|---|---|---|---|---|
$(awk -v est="${PASS_BLOCK_EST[*]}" 'BEGIN { split(est, e, " ") }
	{ for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
	b = f["block"]; n[b]++; u[b, f["p1"], 1] += f["p1_us"]; u[b, f["p2"], 2] += f["p2_us"]
	if (NR % 2 == 1) x = f["p2_us"] / f["p1_us"]; else rs[b] = rs[b] sprintf("%s%.3f", (rs[b] == "" ? "" : " "), sqrt(x * f["p1_us"] / f["p2_us"]))
	if (f["others_cpu"] > oc[b]) oc[b] = f["others_cpu"]; if (f["other_cores"] > oa[b]) oa[b] = f["other_cores"]; last = b }
	END { for (b = 1; b <= last; b++) { h = n[b] / 2
		printf "| %d | %d | %.4f | %s | %.1f, %.1f | %.1f, %.1f | %.2f | %.2f |\n", b, h, e[b], rs[b], u[b, "A", 1] / h, u[b, "A", 2] / h, u[b, "B", 1] / h, u[b, "B", 2] / h, oc[b], oa[b] } }' "$PASS_RAW")

Without: $(fmt0 "$A_WITHOUT") req/s per Caddy, $(fmt1 "$A_CPU_WITHOUT") µs Caddy CPU per request. With: $(fmt0 "$A_WITH") req/s, $(fmt1 "$A_CPU_WITH") µs. **Throughput with ÷ without, mean of the crossed pairs: $(fmt3 "$A_RATIO")** (target ≥ 0.98; pairs range $A_PAIR_RANGE). **Caddy CPU per request, $A_CPU_STAT of its crossed pairs' r: $(fmt4 "$A_CPU_PAIR_MEAN"), 95% CI $(fmt4 "$A_CPU_CI_LO") … $(fmt4 "$A_CPU_CI_HI")** (target: inside 0.99 … 1.01), a t interval over the $PASS_PAIR_BLOCKS blocks (their figures are in the table). Had the pairs been independent: $(fmt4 "$PP_MEAN"), 95% CI $(fmt4 "$PP_LO") … $(fmt4 "$PP_HI"); plain mean $(fmt4 "$PM_MEAN"), 95% CI $(fmt4 "$PM_LO") … $(fmt4 "$PM_HI"); SD of a pair's r $(fmt2 "$(calc "$A_CPU_SD * 100")")%, median $A_PAIR_MEDIAN, range $A_CPU_RANGE. Other work took up to $(fmt2 "$A_OTHERS_MAX") (mean $(fmt2 "$A_OTHERS_MEAN")) of the Caddys' CPU. At $PASS_PAIR_CONNS connection(s) a Caddy is not saturated and its CPU per request includes a wake-up per request, which makes the denominator larger than at saturation (the sequential method, BENCH_PASS_METHOD=sequential, measures at saturation, with a pair SD of 10–14% on this machine); BenchmarkPassThrough (caddymodule) gives what the handler adds in absolute terms."
	if ((PASS_BAD > 0)); then
		PASS_SECTION+="

**$PASS_BAD pass-through requests failed or got an unexpected status.**"
	fi
}
