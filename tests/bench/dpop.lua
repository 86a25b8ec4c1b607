-- wrk: one fresh DPoP proof per request, read from BENCH_LINES. A line is
-- "code<TAB>proof" (a token request: POST BENCH_BODY&code=…) or just "proof"
-- (a GET with Authorization BENCH_AUTH, e.g. DPoP userinfo).
local lines = {}
local i = 0
for line in io.lines(os.getenv("BENCH_LINES")) do lines[#lines + 1] = line end
local prefix = os.getenv("BENCH_BODY")
local auth = os.getenv("BENCH_AUTH")

request = function()
  i = i + 1
  local line = lines[i] or "exhausted\texhausted"
  local code, proof = line:match("^([^\t]*)\t(.*)$")
  if code then
    return wrk.format("POST", nil, {
      ["Content-Type"] = "application/x-www-form-urlencoded",
      ["Authorization"] = auth, ["DPoP"] = proof,
    }, prefix .. "&code=" .. code)
  end
  return wrk.format("GET", nil, {["Authorization"] = auth, ["DPoP"] = line})
end
