-- GET /api/users/{id} of random existing users (ids from BENCH_IDS).
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
local bench = require("common")
setup, done = bench.setup, bench.done

function init(args)
  bench.seed()
  bench.load_ids()
end

request = bench.get
