-- 90% GET /api/users/{id} of random existing users, 10% POST /api/users.
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
local bench = require("common")
setup, done = bench.setup, bench.done

function init(args)
  bench.seed()
  bench.load_ids()
end

function request()
  if math.random(10) == 1 then
    return bench.create()
  end
  return bench.get()
end
