-- GET /api/auth/convex/token (Convex profile, RS256); run.sh adds the session cookie with -H.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
wrk.method = "GET"
wrk.path = "/api/auth/convex/token"
