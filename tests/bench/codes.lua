-- wrk: exchange one fresh authorization code per request, read from BENCH_CODES.
local codes = {}
local i = 0
for line in io.lines(os.getenv("BENCH_CODES")) do codes[#codes + 1] = line end
local prefix = os.getenv("BENCH_BODY")
local auth = os.getenv("BENCH_AUTH")

request = function()
  i = i + 1
  local code = codes[i] or "exhausted"
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Authorization"] = auth,
  }, prefix .. "&code=" .. code)
end
