-- Shared by the bench/run load scripts (wrk 4, LuaJIT). Each script puts
-- this directory on package.path and requires it.
--
-- Environment: TOKEN (bearer token, required), BENCH_IDS (file of user ids,
-- one per line), BENCH_CURSORS (file of keyset page paths, one per line),
-- RUN_ID (makes created emails unique across runs).
local M = {}

local token = os.getenv("TOKEN")
if not token or token == "" then
  error("TOKEN is not set")
end
wrk.headers["Authorization"] = "Bearer " .. token

-- lines reads a file named by an environment variable into a table.
function M.lines(var)
  local path = os.getenv(var)
  if not path or path == "" then
    error(var .. " is not set")
  end
  local t = {}
  for line in io.lines(path) do
    if line ~= "" then
      t[#t + 1] = line
    end
  end
  if #t == 0 then
    error(path .. " is empty")
  end
  return t
end

-- Threads get a number (the global tid) for unique emails and seeds; the
-- main state keeps them for done().
local threads = {}

function M.setup(thread)
  threads[#threads + 1] = thread
  thread:set("tid", #threads)
end

function M.seed()
  math.randomseed(os.time() * 1000 + (tid or 0) * 7919)
end

local ids
function M.load_ids()
  ids = M.lines("BENCH_IDS")
end

-- get returns a GET of a random existing user.
function M.get()
  return wrk.format("GET", "/api/users/" .. ids[math.random(#ids)])
end

local run = os.getenv("RUN_ID") or tostring(os.time())
local created = 0
local json_headers

-- create returns a POST of a new user whose email no other request of
-- this run, thread or counter uses.
function M.create()
  if not json_headers then
    json_headers = {}
    for k, v in pairs(wrk.headers) do
      json_headers[k] = v
    end
    json_headers["Content-Type"] = "application/json"
  end
  created = created + 1
  local body = string.format('{"name":"Bench Create %d","email":"c-%s-%d-%d@bench.example"}',
    created, run, tid, created)
  return wrk.format("POST", "/api/users", json_headers, body)
end

-- done prints one machine-readable line for bench/run. Latencies are in
-- microseconds; errors are socket errors plus answers with status >= 400.
function M.done(summary, latency, requests)
  local e = summary.errors
  local socket = e.connect + e.read + e.write + e.timeout
  io.write(string.format(
    "BENCH requests=%d duration_us=%d rps=%.1f p50_us=%d p90_us=%d p99_us=%d p999_us=%d max_us=%d errors=%d status_errors=%d socket_errors=%d\n",
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, socket + e.status, e.status, socket))
end

return M
