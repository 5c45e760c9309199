-- wrk: count the responses by status, printed as "STATUS <code> <count>"
-- lines after wrk's report (wrk itself only counts "Non-2xx or 3xx").
counts = {}  -- global: the main thread reads it from each thread in done()

function response(status, headers, body)
    counts[status] = (counts[status] or 0) + 1
end

local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

function done(summary, latency, requests)
    local total = {}
    for _, t in ipairs(threads) do
        for code, n in pairs(t:get("counts")) do
            total[code] = (total[code] or 0) + n
        end
    end
    for code, n in pairs(total) do
        io.write(string.format("STATUS %d %d\n", code, n))
    end
end
