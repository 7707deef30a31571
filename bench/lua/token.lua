-- GET /api/auth/token (JWT plugin); run.sh adds the session cookie with -H.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
wrk.method = "GET"
wrk.path = "/api/auth/token"
