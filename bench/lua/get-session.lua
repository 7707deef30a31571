-- GET /api/auth/get-session; run.sh adds the credential with -H (Cookie: … or Authorization: Bearer …).
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
wrk.method = "GET"
wrk.path = "/api/auth/get-session"
