-- GET /api/users?limit=20&cursor=…: keyset pages, rotating through real
-- cursors taken from the API's Link rel="next" (paths in BENCH_CURSORS).
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
local bench = require("common")
setup, done = bench.setup, bench.done

local paths
local i = 0

function init(args)
  paths = bench.lines("BENCH_CURSORS")
  i = (tid or 0) * 7
end

function request()
  i = i + 1
  return wrk.format("GET", paths[i % #paths + 1])
end
