-- POST /api/auth/sign-up/email with a new email on every request:
-- b-<run tag>-<thread>-<n>-<random>@bench.example
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
local tag = os.getenv("BENCH_TAG") or "x"
local password = os.getenv("BENCH_PASSWORD") or "bench-password-123"
local n = 0

function scenario_init(args)
  math.randomseed(os.time() * 1000 + id * 7919)
end

function request()
  n = n + 1
  local email = string.format("b-%s-%d-%d-%d@bench.example", tag, id, n, math.random(0, 1073741823))
  local body = string.format('{"email":"%s","password":"%s","name":"Bench User"}', email, password)
  return wrk.format("POST", "/api/auth/sign-up/email", { ["Content-Type"] = "application/json" }, body)
end
