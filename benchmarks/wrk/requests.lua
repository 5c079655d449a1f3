-- wrk script: cycles through the requests listed in the file $WRK_REQUESTS, one per line:
--   GET /api/v1/erp/products/?page=2
--   POST /api/v1/rag/search/ {"query": "boundary layer", "k": 10}
-- and authenticates with the API key in $WRK_KEY. At the end it prints one line that benchmarks/hotreads.sh parses:
--   RESULT requests=N seconds=S rps=R p50=ms p95=ms p99=ms max=ms errors=N
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

function init(args)
  load()
  -- threads start at different offsets so that they do not request the same thing in lockstep
  index = math.random(#lines) - 1
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
    "RESULT requests=%d seconds=%.1f rps=%.1f p50=%.1f p95=%.1f p99=%.1f max=%.1f errors=%d\n",
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, errors))
end
