-- wrk script for the resetgate benchmark.
--
--   WRK_BODY=<json>  POST this JSON body (default: GET with no body)
--
-- It defines no response() callback (that makes wrk hand every answer to
-- Lua and costs throughput); answers other than 2xx/3xx show up in
-- summary.errors.status. done() prints one line for bench/run.sh:
--
--   WRKRESULT requests=… duration_us=… rps=… p50_us=… p90_us=… p99_us=… max_us=… mean_us=… errors=… non2xx=…

local body = os.getenv("WRK_BODY")
if body ~= nil and body ~= "" then
  wrk.method = "POST"
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
end

function done(summary, latency, requests)
  local e = summary.errors
  local rps = summary.requests / (summary.duration / 1e6)
  io.write(string.format(
    "WRKRESULT requests=%d duration_us=%d rps=%.1f p50_us=%.1f p90_us=%.1f p99_us=%.1f max_us=%.1f mean_us=%.1f errors=%d non2xx=%d\n",
    summary.requests, summary.duration, rps,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean,
    e.connect + e.read + e.write + e.timeout, e.status))
end
