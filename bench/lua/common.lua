-- Shared by the scenario scripts (loaded with dofile). Counts wrong answers and, when wrk finishes,
-- prints one machine-readable line (BENCH_RESULT ...) that run.sh parses.
-- A response is wrong when its status is not 200, or when BENCH_EXPECT is set and the body does not
-- contain it (get-session answers 200 with the body "null" for an unknown session).

local threads = {}
local expect = os.getenv("BENCH_EXPECT") or ""

function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end

function init(args)
  bad = 0
  first_bad = ""
  if scenario_init then scenario_init(args) end
end

function response(status, headers, body)
  if status ~= 200 or (expect ~= "" and not (body and body:find(expect, 1, true))) then
    bad = bad + 1
    if first_bad == "" then
      first_bad = status .. " " .. ((body or ""):sub(1, 200):gsub("%s+", " "))
    end
  end
end

function done(summary, latency, requests)
  local bad_total, first = 0, ""
  for _, t in ipairs(threads) do
    bad_total = bad_total + (t:get("bad") or 0)
    local f = t:get("first_bad")
    if first == "" and f and f ~= "" then first = f end
  end
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    "BENCH_RESULT requests=%d seconds=%.3f ok_rps=%.2f all_rps=%.2f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f bad=%d connect=%d read=%d write=%d timeout=%d\n",
    summary.requests, secs, (summary.requests - bad_total) / secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, bad_total, e.connect, e.read, e.write, e.timeout))
  if first ~= "" then io.write("BENCH_FIRST_BAD " .. first .. "\n") end
end
