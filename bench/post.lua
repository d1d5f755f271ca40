-- bench/post.lua: wrk script for POST /api/conversations (see bench/README.md).
-- Environment: BENCH_KEY = the API key sent as "Authorization: Bearer BENCH_KEY".
-- Every response that is not 2xx is counted per status code and reported at the end, so a
-- run that was mostly refused (429 over the concurrency limit, 401 for a bad key...) is
-- visible and not mistaken for a fast one. wrk's own "Non-2xx or 3xx responses" line agrees.

local key = os.getenv("BENCH_KEY") or ""

wrk.method = "POST"
wrk.path = "/api/conversations"
wrk.body = '{"initial_user_msg": "bench task"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. key

-- Each wrk thread has its own Lua state; keep the threads to add their counts up in done().
local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

function init(args)
    ok = 0
    bad = 0
    codes = {}
end

function response(status, headers, body)
    if status >= 200 and status < 300 then
        ok = ok + 1
    else
        bad = bad + 1
        codes[status] = (codes[status] or 0) + 1
    end
end

function done(summary, latency, requests)
    local total_ok, total_bad, by_code = 0, 0, {}
    for _, t in ipairs(threads) do
        total_ok = total_ok + (t:get("ok") or 0)
        total_bad = total_bad + (t:get("bad") or 0)
        local c = t:get("codes") or {}
        for code, n in pairs(c) do by_code[code] = (by_code[code] or 0) + n end
    end
    local detail = {}
    for code, n in pairs(by_code) do table.insert(detail, code .. "=" .. n) end
    table.sort(detail)
    io.write(string.format("post.lua: 2xx=%d non-2xx=%d %s\n", total_ok, total_bad,
        #detail > 0 and ("(" .. table.concat(detail, " ") .. ")") or ""))
end
