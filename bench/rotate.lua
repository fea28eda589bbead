-- Rotate request bodies: each request sends the next file listed in $BENCH_BODIES (one path a line),
-- with its one BENCHNONCE replaced by a number no other request of this run carries, so the prefetch
-- (or, without prefetch, the request) of every call differs and no record memory can answer it.
local heads, tails = {}, {}
local i = 0
local sent = 0
local tag = tostring(math.random(1, 1000000000))
local path = os.getenv("BENCH_PATH")

function init(args)
  for line in io.lines(os.getenv("BENCH_BODIES")) do
    local f = io.open(line, "rb")
    local body = f:read("*a")
    f:close()
    local at = string.find(body, "BENCHNONCE", 1, true)
    heads[#heads + 1] = string.sub(body, 1, at - 1)
    tails[#tails + 1] = string.sub(body, at + 10)
  end
  math.randomseed(os.time() + tonumber(tag))
  tag = tostring(math.random(1, 1000000000))
  i = math.random(#heads)
end

function request()
  i = i % #heads + 1
  sent = sent + 1
  local body = heads[i] .. tag .. "-" .. sent .. tails[i]
  return wrk.format("POST", path, {["Content-Type"] = "application/json"}, body)
end

function done(summary, latency, requests)
  io.write(string.format(
    'RESULT {"requests": %d, "duration_us": %d, "errors": %d, "non2xx": %d, "p50": %d, "p95": %d, "p99": %d}\n',
    summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
