#!/usr/bin/env bash
# Two builds of Palisade side by side on get-session (bearer and cookie), alternating rounds so
# load from elsewhere hits both alike; prints req/s per round (take the medians).
#   bench/ab.sh OLD_BINARY NEW_BINARY [ROUNDS=5] [SECONDS=4]
# e.g. an old build: git worktree add /tmp/old <rev> && CARGO_TARGET_DIR=/tmp/old-target cargo build --release
set -euo pipefail
old=$(realpath "${1:?old binary}"); new=$(realpath "${2:?new binary}"); rounds=${3:-5}; secs=${4:-4}
repo=$(cd "$(dirname "$0")/.." && pwd)
command -v wrk >/dev/null || { echo "wrk is required (bench/run.sh installs it)"; exit 1; }
tmp=$(mktemp -d); pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"' EXIT
start() { # name binary port
  mkdir -p "$tmp/$1"
  (cd "$tmp/$1" && exec env PALISADE_CONFIG="$repo/conformance/default.toml" BETTER_AUTH_SECRET=bench-secret-0123456789abcdefghijklmnopqrstuvwxyz \
    DATABASE_URL="sqlite://$tmp/$1/db.sqlite" PALISADE_LISTEN="127.0.0.1:$3" BASE_URL="http://127.0.0.1:$3" PALISADE_LOG=warn "$2" serve >"$tmp/$1/log" 2>&1) &
  pids+=($!)
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$3/api/auth/ok" >/dev/null && break; sleep 0.1; done
  curl -s -D "$tmp/$1/headers" -o /dev/null -X POST "http://127.0.0.1:$3/api/auth/sign-up/email" -H 'content-type: application/json' \
    -H 'origin: http://localhost:5173' -d '{"email":"ab@bench.example","password":"password-123","name":"AB"}'
}
start old "$old" 4791; start new "$new" 4792
for round in $(seq 1 "$rounds"); do
  for side in old:4791 new:4792; do
    name=${side%%:*} port=${side##*:}
    token=$(grep -i '^set-auth-token:' "$tmp/$name/headers" | cut -d' ' -f2 | tr -d '\r')
    cookie=$(grep -i '^set-cookie: better-auth.session_token' "$tmp/$name/headers" | cut -d' ' -f2 | cut -d';' -f1)
    b=$(wrk -t2 -c32 -d"${secs}s" -H "Authorization: Bearer $token" "http://127.0.0.1:$port/api/auth/get-session" | awk '/Requests\/sec/{print $2}')
    c=$(wrk -t2 -c32 -d"${secs}s" -H "Cookie: $cookie" "http://127.0.0.1:$port/api/auth/get-session" | awk '/Requests\/sec/{print $2}')
    echo "round $round $name bearer $b cookie $c"
  done
done
