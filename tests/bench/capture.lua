-- wrk: POST a fixed form body (BENCH_BODY, BENCH_AUTH) and write each 200 answer's
-- BENCH_CAPTURE field (e.g. access_token) to BENCH_CAPTURE_FILE, one per line.
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = os.getenv("BENCH_AUTH")
local out = io.open(os.getenv("BENCH_CAPTURE_FILE"), "a")
out:setvbuf("line")
local pattern = '"' .. os.getenv("BENCH_CAPTURE") .. '"%s*:%s*"([^"]+)"'

response = function(status, headers, body)
  if status == 200 then
    local value = body:match(pattern)
    if value then out:write(value, "\n") end
  end
end
