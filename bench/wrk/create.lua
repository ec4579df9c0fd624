-- POST /api/users with an email no other request uses.
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
local bench = require("common")
setup, done = bench.setup, bench.done

function init(args)
  bench.seed()
end

request = bench.create
