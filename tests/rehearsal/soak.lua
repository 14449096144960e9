-- wrk script of the rehearsal's soak: rotate over the paths given after
-- "--" and count 5xx.  Bounded by wrk's -d only: a thread stopped early
-- (wrk.thread:stop()) keeps its sockets open until wrk exits, and an idle
-- connection holds a sync gunicorn worker until its --timeout kills it.
-- Prints one "REHEARSAL {json}" line at the end.
local paths = {}
local sent = 0
responses = 0
fivexx = 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  for i = 1, #args do
    paths[#paths + 1] = args[i]
  end
end

function request()
  sent = sent + 1
  return wrk.format("GET", paths[(sent % #paths) + 1])
end

function response(status, headers, body)
  responses = responses + 1
  if status >= 500 then
    fivexx = fivexx + 1
  end
end

function done(summary, latency, requests)
  local f5 = 0
  for _, t in ipairs(threads) do
    f5 = f5 + t:get("fivexx")
  end
  local e = summary.errors
  io.write(string.format(
    'REHEARSAL {"requests": %d, "fivexx": %d, "socket_errors": %d, "non_2xx_3xx": %d, ' ..
    '"p50_ms": %.1f, "p95_ms": %.1f, "max_ms": %.1f, "seconds": %.1f}\n',
    summary.requests, f5, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency.max / 1000,
    summary.duration / 1e6))
end
