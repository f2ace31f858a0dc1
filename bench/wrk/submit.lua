-- wrk script: send pre-built signed submissions, each exactly once, then stop.
--
-- Usage: wrk -t T -c C -d D -s bench/wrk/submit.lua URL -- LINES THREADS
-- LINES holds one submission a line: PATH <tab> COOKIE <tab> CSRF <tab> BODY (each
-- application is filed by its own resident, whose session the cookie carries; a draft
-- is submitted once). Thread i of T sends the lines i, i+T, ….
--
-- A connection with nothing left to send idles (delay) instead of stopping its thread,
-- so the answers still in flight on the thread's other connections are all counted; the
-- thread stops once every one of its submissions is answered and prints "thread done"
-- (the bench then interrupts wrk, whose main thread would otherwise sleep until -d).
-- wrk calls request() once before the threads start, on thread 0's state, only to check
-- the request it builds: that call gets a /healthz request, never a submission.
-- done() prints one JSON line with the counts and latency percentiles.

local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

local requests = {}
local reserved, sent, answered = 0, 0, 0
local checking = false

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
  checking = id == 0
end

function delay()
  -- called before each request(): a submission is reserved for this connection, or the
  -- connection waits (far longer than any run) while the others finish
  if reserved >= #requests then
    return 86400000
  end
  reserved = reserved + 1
  return 0
end

function request()
  if checking then
    checking = false
    return wrk.format("GET", "/healthz")
  end
  sent = sent + 1
  -- after a broken connection wrk asks again without delay(): nothing is sent twice
  return requests[sent] or wrk.format("GET", "/healthz")
end

function response(status, headers, body)
  answered = answered + 1
  if answered == #requests then
    io.write("thread done\n")
    io.flush()
    wrk.thread:stop()
  end
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
