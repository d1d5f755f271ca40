-- bench/message.lua: wrk script for POST /api/conversations/{id}/message (bench/multinode.py).
-- Environment: BENCH_TARGETS = "KEY:CONVERSATION_ID,KEY:CONVERSATION_ID,..." — one conversation
-- per account; each request goes to the next pair in turn (each wrk thread starts at its own
-- offset), so the writes spread over several accounts as real traffic does, instead of all
-- waiting for one account's row lock. Every answer that is not 2xx is counted per status code
-- and reported at the end, like bench/post.lua.

local targets = {}
for pair in string.gmatch(os.getenv("BENCH_TARGETS") or "", "[^,]+") do
    local key, id = string.match(pair, "^([^:]+):(.+)$")
    if key then table.insert(targets, {key = key, id = id}) end
end

local threads = {}
local thread_count = 0

function setup(thread)
    thread_count = thread_count + 1
    thread:set("offset", thread_count * 7)
    table.insert(threads, thread)
end

function init(args)
    ok = 0
    bad = 0
    codes = {}
    n = offset or 0
end

function request()
    n = n + 1
    local t = targets[(n % #targets) + 1]
    return wrk.format("POST", "/api/conversations/" .. t.id .. "/message",
        {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. t.key},
        '{"message": "bench message"}')
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
        for code, k in pairs(c) do by_code[code] = (by_code[code] or 0) + k end
    end
    local detail = {}
    for code, k in pairs(by_code) do table.insert(detail, code .. "=" .. k) end
    table.sort(detail)
    io.write(string.format("message.lua: 2xx=%d non-2xx=%d %s\n", total_ok, total_bad,
        #detail > 0 and ("(" .. table.concat(detail, " ") .. ")") or ""))
end
