-- wrk: spread requests over the 20 daemon groups (/g1/hello .. /g20/hello).
local n = 0
request = function()
    n = n % 20 + 1
    return wrk.format("GET", "/g" .. n .. "/hello")
end
