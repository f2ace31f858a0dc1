-- wrk script: send pre-built signed submissions, each exactly once, then stop.
--
-- Usage: wrk -t T -c C -d D -s bench/wrk/submit.lua URL -- LINES THREADS
-- LINES holds one submission a line: PATH <tab> COOKIE <tab> CSRF <tab> BODY (each
-- application is filed by its own resident, whose session the cookie carries; a draft
-- is submitted once). Thread i of T sends the lines i, i+T, …; a thread that runs
-- out stops. done() prints one JSON line with the counts and latency percentiles.

local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

local requests = {}
local sent = 0

function init(args)
  local lines, total = args[1], tonumber(args[2])
  local line_no = 0
  for line in io.lines(lines) do
    if line_no % total == id then
      local path, cookie, csrf, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
      requests[#requests + 1] = wrk.format("POST", path, {
        ["Cookie"] = cookie,
        ["X-CSRF-Token"] = csrf,
        ["Content-Type"] = "application/json",
      }, body)
    end
    line_no = line_no + 1
  end
end

function request()
  sent = sent + 1
  if sent > #requests then
    wrk.thread:stop()
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
