-- GET /api/users?per_page=20: the first page, newest first.
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
local bench = require("common")
setup, done = bench.setup, bench.done

wrk.method = "GET"
wrk.path = "/api/users?per_page=20"
