-- wrk: POST one fresh item per request (an authorization code, a refresh token, a
-- token to revoke), read from BENCH_ITEMS one per line, as BENCH_PARAM=<item> after
-- the fixed BENCH_BODY. When the items run out the run stops and the seconds it
-- took are written to BENCH_ELAPSED, so the rate counts only real requests.
-- With BENCH_CAPTURE (a JSON field name) each 200 answer's field is written to
-- BENCH_CAPTURE_FILE, and with BENCH_CHAIN=1 it is also queued as a next item
-- (refresh tokens rotate: each answer carries the next one).
package.path = os.getenv("BENCH_DIR") .. "/?.lua;" .. package.path
local now = require("clock")
local items, i = {}, 0
for line in io.lines(os.getenv("BENCH_ITEMS")) do
  if line ~= "" then items[#items + 1] = line end
end
local prefix = os.getenv("BENCH_BODY") or ""
local param = os.getenv("BENCH_PARAM")
local auth = os.getenv("BENCH_AUTH")
local field = os.getenv("BENCH_CAPTURE")
local chain = os.getenv("BENCH_CHAIN") == "1"
local out = nil
if field and field ~= "" then
  out = io.open(os.getenv("BENCH_CAPTURE_FILE"), "a")
  out:setvbuf("line")
end
local pattern = field and ('"' .. (field or "") .. '"%s*:%s*"([^"]+)"')
local started, stopped = nil, false
local ok, failed = 0, 0  -- answers before the items ran out: the run's own counts

request = function()
  started = started or now()
  i = i + 1
  local item = items[i]
  if item == nil then
    if not stopped then
      stopped = true
      local f = io.open(os.getenv("BENCH_ELAPSED"), "w")
      f:write(string.format("%.6f %d %d", now() - started, ok, failed))
      f:close()
      wrk.thread:stop()
    end
    item = "exhausted"
  end
  local sep = (prefix == "") and "" or "&"
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Authorization"] = auth,
  }, prefix .. sep .. param .. "=" .. item)
end

response = function(status, headers, body)
  if stopped then return end
  if status ~= 200 then
    failed = failed + 1
    return
  end
  ok = ok + 1
  if out then
    local value = body:match(pattern)
    if value then
      out:write(value, "\n")
      if chain then items[#items + 1] = value end
    end
  end
end
