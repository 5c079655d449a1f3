-- wrk script: cycles through the requests listed in the file $WRK_REQUESTS, one per line:
--   GET /api/v1/erp/products/?page=2
--   POST /api/v1/rag/search/ {"query": "boundary layer", "k": 10}
-- and authenticates with the API key in $WRK_KEY. At the end it prints one line that benchmarks/hotreads.sh parses:
--   RESULT requests=N seconds=S rps=R p50=ms p95=ms p99=ms max=ms errors=N err_connect=N err_read=N ... (by kind)
local lines = {}
local index = 0

local function load()
  local path = os.getenv("WRK_REQUESTS")
  for line in io.lines(path) do
    local method, target, body = line:match("^(%u+)%s+(%S+)%s*(.*)$")
    if method then
      table.insert(lines, { method = method, path = target, body = body ~= "" and body or nil })
    end
  end
  assert(#lines > 0, "no requests in " .. tostring(path))
end

local threads = 0

function setup(thread)
  thread:set("thread_id", threads)
  threads = threads + 1
end

function init(args)
  load()
  -- Each run starts at a random point of the list and each thread takes its own share of it from there, so that
  -- threads never send the same request in lockstep and a run of a long list of distinct requests (searches with a
  -- new query each time) does not repeat the requests of the warm-up run before it.
  math.randomseed(os.time() + 7919 * thread_id)
  local share = math.floor(#lines / math.max(1, tonumber(os.getenv("WRK_THREADS") or "2")))
  local base = tonumber(os.getenv("WRK_OFFSET") or "0") % #lines
  index = (base + thread_id * share) % #lines
  wrk.headers["X-API-Key"] = os.getenv("WRK_KEY")
  wrk.headers["Accept"] = "application/json"
end

function request()
  index = index % #lines + 1
  local r = lines[index]
  local headers = nil
  if r.body then
    headers = {}
    for name, value in pairs(wrk.headers) do
      headers[name] = value
    end
    headers["Content-Type"] = "application/json"
  end
  return wrk.format(r.method, r.path, headers, r.body)
end

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local e = summary.errors
  local errors = e.connect + e.read + e.write + e.status + e.timeout
  io.write(string.format(
    "RESULT requests=%d seconds=%.1f rps=%.1f p50=%.1f p95=%.1f p99=%.1f max=%.1f errors=%d "
      .. "err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d\n",
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, errors, e.connect, e.read, e.write, e.status, e.timeout))
end
