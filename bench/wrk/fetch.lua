-- wrk script: send pre-built requests, each exactly once, then stop.
--
-- Usage: wrk -t T -c C -d D -s bench/wrk/fetch.lua URL -- BODIES PATH THREADS COOKIE CSRF
-- BODIES holds one request body per line (sealed fetch envelopes carry a
-- unique request id and a timestamp, so a body sent twice is refused as a
-- replay). Thread i of T sends the lines i, i+T, i+2T, …; a thread that runs
-- out stops, so no request is ever repeated. With an empty BODIES argument
-- every request is a GET of PATH (for the ceiling of a trivial endpoint).
-- done() prints one JSON line with the counts and latency percentiles.

local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local requests = {}
local sent = 0

function init(args)
  local bodies, path, total = args[1], args[2], tonumber(args[3])
  wrk.headers["Cookie"] = args[4]
  wrk.headers["X-CSRF-Token"] = args[5]
  if bodies == "" then
    requests = nil
    wrk.path = path
    return
  end
  wrk.headers["Content-Type"] = "application/json"
  local line_no = 0
  for line in io.lines(bodies) do
    if line_no % total == id then
      requests[#requests + 1] = wrk.format("POST", path, nil, line)
    end
    line_no = line_no + 1
  end
end

function request()
  if requests == nil then
    return wrk.format(nil, nil, nil, nil)
  end
  sent = sent + 1
  if sent > #requests then
    wrk.thread:stop()
    -- wrk still needs a request to write while it stops: a harmless GET
    return wrk.format("GET", "/healthz", nil, nil)
  end
  return requests[sent]
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "non_2xx": %d, "socket_errors": %d, ' ..
    '"p50_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f}\n',
    summary.requests, summary.duration, errors.status,
    errors.connect + errors.read + errors.write + errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
