#!/usr/bin/env bash
# Throughput/latency benchmark: Palisade vs. the reference Better Auth server (Node), same machine,
# same scenarios, one server under load at a time. See bench/README.md.
#
#   bench/run.sh                       # defaults: 2 s warm-up + 10 s per scenario and server, wrk -t2 -c32
#   BENCH_SECONDS=3 BENCH_WARMUP=1 bench/run.sh
#
# Env (defaults in brackets):
#   BENCH_SECONDS [10]  BENCH_WARMUP [2]  BENCH_THREADS [2]  BENCH_CONNECTIONS [32]  BENCH_TIMEOUT [10s]
#   BENCH_SCENARIOS ["get-session-cookie get-session-bearer sign-in sign-up"]; also available:
#     token (GET /token, both servers), convex-token (GET /convex/token, Palisade only: the reference's
#     Convex plugin does not run outside Convex; selecting it turns Palisade's Convex profile on, which
#     also sets the convex_jwt cookie on get-session);
#     get-session-cache: cookie + session_data against a second reference (COOKIE_CACHE=1) and a second
#     Palisade (conformance/cookie-cache.toml); bare-axum: examples/bare_axum.rs, the yardstick
#   BENCH_REF_PORT [4300]  BENCH_PAL_PORT [4301]  BENCH_BARE_PORT [4302]  BENCH_REF_CC_PORT [4303]
#   BENCH_PAL_CC_PORT [4304]  BENCH_NODE_ENV [production]
#   BENCH_PAL_DATABASE [sqlite] | postgres | mysql   BENCH_PAL_REDIS [0] (1: Redis as secondary storage)
#   BENCH_NO_BUILD=1     use the existing target/release binaries (no cargo build)
#   BENCH_BUILD_TRIES [10]  attempts of `cargo build --release`, 60 s apart (src/ may be mid-edit)
#   BENCH_KEEP_TMP=1     keep the temporary folder (databases, server logs)
#   BENCH_YARDSTICK_ROUNDS [3]  alternating palisade-cc / bare-axum rounds for the cookie-cache ratio
set -euo pipefail

BENCH_SECONDS=${BENCH_SECONDS:-10}
BENCH_WARMUP=${BENCH_WARMUP:-2}
BENCH_THREADS=${BENCH_THREADS:-2}
BENCH_CONNECTIONS=${BENCH_CONNECTIONS:-32}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-10s}
BENCH_SCENARIOS=${BENCH_SCENARIOS:-"get-session-cookie get-session-bearer get-session-cache bare-axum sign-in sign-up"}
REF_PORT=${BENCH_REF_PORT:-4300}
PAL_PORT=${BENCH_PAL_PORT:-4301}
BARE_PORT=${BENCH_BARE_PORT:-4302}
REF_CC_PORT=${BENCH_REF_CC_PORT:-4303}
PAL_CC_PORT=${BENCH_PAL_CC_PORT:-4304}
NODE_ENV_WANTED=${BENCH_NODE_ENV:-production}
BUILD_TRIES=${BENCH_BUILD_TRIES:-10}
BENCH_YARDSTICK_ROUNDS=${BENCH_YARDSTICK_ROUNDS:-3}

bench_dir=$(cd "$(dirname "$0")" && pwd)
repo=$(git -C "$bench_dir" rev-parse --show-toplevel)
shared=$(cd "$repo/../shared/conformance" && pwd)
lua_dir=$bench_dir/lua
ts=$(date -u +%Y%m%dT%H%M%SZ)
results_dir=$bench_dir/results
mkdir -p "$results_dir"
out=$results_dir/$ts.txt
raw=$results_dir/$ts-wrk.log        # full wrk output of every run (warm-ups included)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/palisade-bench.XXXXXX")
: >"$out"
: >"$raw"

SECRET="bench-secret-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"   # 61 chars
PASSWORD="bench-password-123"
SEED_EMAIL="bench-seed@bench.example"
TAG="${ts}$$"

ref_pid="" pal_pid="" ref_cc_pid="" pal_cc_pid="" bare_pid="" failed=1

say() { printf '%s\n' "$*" | tee -a "$out"; }
die() { say "ERROR: $*"; exit 1; }

alive() { # pid: running and not a zombie
  [ -n "${1:-}" ] && [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

stop_server() { # pid (also the process group id: servers are started with setsid)
  local pid=${1:-}
  [ -n "$pid" ] || return 0
  if alive "$pid"; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    ( sleep 5; kill -KILL -- "-$pid" 2>/dev/null ) &
    local watchdog=$!
    wait "$pid" 2>/dev/null || true
    kill "$watchdog" 2>/dev/null || true
    wait "$watchdog" 2>/dev/null || true
  else
    wait "$pid" 2>/dev/null || true
  fi
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_server "$ref_pid"
  stop_server "$pal_pid"
  stop_server "$ref_cc_pid"
  stop_server "$pal_cc_pid"
  stop_server "$bare_pid"
  if [ "$failed" = 1 ] || [ "${BENCH_KEEP_TMP:-0}" = 1 ]; then
    echo "temporary files (databases, server logs) kept in $tmp" >&2
  else
    rm -rf "$tmp"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "interrupted" >&2; exit 130' INT TERM

# ---------------------------------------------------------------- tools
if ! command -v wrk >/dev/null 2>&1; then
  echo "installing wrk (apt-get)…" >&2
  apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
for t in wrk curl node git awk; do command -v "$t" >/dev/null || die "$t is required"; done

# ---------------------------------------------------------------- build
cargo_build() { # args…  (retries: another engineer may be editing src/)
  local try
  for try in $(seq 1 "$BUILD_TRIES"); do
    if (cd "$repo" && cargo build --release "$@") >"$tmp/build.log" 2>&1; then return 0; fi
    echo "cargo build --release $* failed (attempt $try/$BUILD_TRIES):" >&2
    grep -E '^(error|warning: unused)' "$tmp/build.log" | head -5 >&2 || tail -5 "$tmp/build.log" >&2
    [ "$try" -lt "$BUILD_TRIES" ] && sleep 60
  done
  return 1
}

if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
  echo "building palisade (release)…" >&2
  cargo_build || { tail -30 "$tmp/build.log" >&2; die "cargo build --release failed $BUILD_TRIES times"; }
fi
target=${CARGO_TARGET_DIR:-$repo/target}
[ -x "$target/release/palisade" ] || die "$target/release/palisade missing"
# Pin the binary: a concurrent build must not swap it between runs.
cp "$target/release/palisade" "$tmp/palisade"
wants() { [[ " $BENCH_SCENARIOS " == *" $1 "* ]]; }
if wants bare-axum; then
  [ "${BENCH_NO_BUILD:-0}" = 1 ] || cargo_build --example bare_axum || die "examples/bare_axum did not build"
  cp "$target/release/examples/bare_axum" "$tmp/bare_axum"
fi

scrypt_line="scrypt_rate example missing"
if [ -f "$repo/examples/scrypt_rate.rs" ] || [ -f "$repo/examples/scrypt_rate/main.rs" ]; then
  if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
    echo "building examples/scrypt_rate (release)…" >&2
    BUILD_TRIES=$(( BUILD_TRIES < 3 ? BUILD_TRIES : 3 )) cargo_build --example scrypt_rate || true
  fi
  if [ -x "$target/release/examples/scrypt_rate" ]; then
    echo "running scrypt_rate…" >&2
    if line=$(timeout 300 "$target/release/examples/scrypt_rate" 2>"$tmp/scrypt_rate.err"); then
      scrypt_line=$(printf '%s\n' "$line" | grep -m1 '^scrypt' || printf '%s\n' "$line" | tail -1)
    else
      scrypt_line="scrypt_rate failed (exit $?): $(tail -1 "$tmp/scrypt_rate.err")"
    fi
  else
    scrypt_line="scrypt_rate example present but did not build"
  fi
fi

# ---------------------------------------------------------------- servers
health_wait() { # name pid url log seconds
  local name=$1 pid=$2 url=$3 log=$4 secs=$5 i
  for i in $(seq 1 $((secs * 4))); do
    if curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; then return 0; fi
    if ! alive "$pid"; then
      echo "$name exited before becoming healthy; last lines of its log:" >&2
      tail -20 "$log" >&2
      return 1
    fi
    sleep 0.25
  done
  echo "$name not healthy after ${secs}s; last lines of its log:" >&2
  tail -20 "$log" >&2
  return 1
}

port_free() { ! curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$1/" 2>/dev/null; }
for p in "$REF_PORT" "$PAL_PORT" "$BARE_PORT" "$REF_CC_PORT" "$PAL_CC_PORT"; do
  port_free "$p" || die "something already listens on 127.0.0.1:$p"
done

start_ref() { # NODE_ENV [port name extra-env…] (sets ref_pid)
  local port=${2:-$REF_PORT} name=${3:-ref}
  setsid env PORT="$port" RATE_LIMIT=0 RESET_DB=1 DB="$tmp/$name.db" EMAIL_LOG="$tmp/$name-mail.jsonl" \
    BETTER_AUTH_SECRET="$SECRET" NODE_ENV="$1" "${@:4}" \
    "$shared/reference.sh" >"$tmp/$name.log" 2>&1 </dev/null &
  ref_pid=$!
}

ref_node_env=$NODE_ENV_WANTED
echo "starting reference server (first start installs its npm packages, ~1 min)…" >&2
start_ref "$ref_node_env"
if ! health_wait reference "$ref_pid" "http://127.0.0.1:$REF_PORT/health" "$tmp/ref.log" 300; then
  stop_server "$ref_pid"; ref_pid=""
  [ "$ref_node_env" = development ] && die "reference server did not start"
  say "NOTE: reference server did not start with NODE_ENV=$ref_node_env; using NODE_ENV=development"
  ref_node_env=development
  start_ref "$ref_node_env"
  health_wait reference "$ref_pid" "http://127.0.0.1:$REF_PORT/health" "$tmp/ref.log" 300 || die "reference server did not start"
fi

echo "starting palisade…" >&2
# Palisade's storage: the embedded SQLite file by default; BENCH_PAL_DATABASE=postgres|mysql puts it
# on a fresh database of the local server, BENCH_PAL_REDIS=1 adds Redis as secondary storage.
pal_db="sqlite://$tmp/pal.db"
case "${BENCH_PAL_DATABASE:-sqlite}" in
  postgres) n="palisade_bench_$$"; psql "postgres://postgres@127.0.0.1:5432/test" -qc "drop database if exists $n" -c "create database $n"
            pal_db="postgres://postgres@127.0.0.1:5432/$n" ;;
  mysql)    n="palisade_bench_$$"; mariadb -h 127.0.0.1 -uroot -e "drop database if exists $n; create database $n"
            pal_db="mysql://root@127.0.0.1:3306/$n" ;;
esac
pal_redis=""; [ "${BENCH_PAL_REDIS:-0}" = 1 ] && pal_redis="redis://127.0.0.1:6379"
pal_convex=""; [[ " $BENCH_SCENARIOS " == *" convex-token "* ]] && pal_convex=true
[[ $pal_db == sqlite:* ]] || DATABASE_URL="$pal_db" PALISADE_CONFIG="$repo/conformance/default.toml" "$tmp/palisade" migrate >/dev/null
( cd "$tmp" && exec setsid env PALISADE_CONFIG="$repo/conformance/default.toml" PALISADE_LISTEN="127.0.0.1:$PAL_PORT" \
    BASE_URL="http://127.0.0.1:$PAL_PORT" DATABASE_URL="$pal_db" ${pal_redis:+REDIS_URL="$pal_redis"} ${pal_convex:+PALISADE_PLUGINS__CONVEX__ENABLED=true} PALISADE_EMAIL_LOG="$tmp/pal-mail.jsonl" \
    BETTER_AUTH_SECRET="$SECRET" PALISADE_ENV=production PALISADE_RATE_LIMIT__ENABLED=false PALISADE_LOG=warn \
    "$tmp/palisade" serve ) >"$tmp/pal.log" 2>&1 </dev/null &
pal_pid=$!
health_wait palisade "$pal_pid" "http://127.0.0.1:$PAL_PORT/api/auth/ok" "$tmp/pal.log" 60 || die "palisade did not start"

# The cookie-cache scenario: the same two servers again with the cache on (compact, 300 s).
if wants get-session-cache; then
  main_ref_pid=$ref_pid
  start_ref "$ref_node_env" "$REF_CC_PORT" ref-cc COOKIE_CACHE=1
  ref_cc_pid=$ref_pid ref_pid=$main_ref_pid
  health_wait reference-cc "$ref_cc_pid" "http://127.0.0.1:$REF_CC_PORT/health" "$tmp/ref-cc.log" 300 || die "reference (cookie cache) did not start"
  [[ $pal_db == sqlite:* ]] && pal_cc_db="sqlite://$tmp/pal-cc.db" || pal_cc_db=$pal_db
  ( cd "$tmp" && exec setsid env PALISADE_CONFIG="$repo/conformance/cookie-cache.toml" PALISADE_LISTEN="127.0.0.1:$PAL_CC_PORT" \
      BASE_URL="http://127.0.0.1:$PAL_CC_PORT" DATABASE_URL="$pal_cc_db" ${pal_redis:+REDIS_URL="$pal_redis"} PALISADE_EMAIL_LOG="$tmp/pal-cc-mail.jsonl" \
      BETTER_AUTH_SECRET="$SECRET" PALISADE_ENV=production PALISADE_RATE_LIMIT__ENABLED=false PALISADE_LOG=warn \
      "$tmp/palisade" serve ) >"$tmp/pal-cc.log" 2>&1 </dev/null &
  pal_cc_pid=$!
  health_wait palisade-cc "$pal_cc_pid" "http://127.0.0.1:$PAL_CC_PORT/api/auth/ok" "$tmp/pal-cc.log" 60 || die "palisade (cookie cache) did not start"
fi
if wants bare-axum; then
  setsid "$tmp/bare_axum" "127.0.0.1:$BARE_PORT" >"$tmp/bare.log" 2>&1 </dev/null &
  bare_pid=$!
  health_wait bare-axum "$bare_pid" "http://127.0.0.1:$BARE_PORT/api/auth/ok" "$tmp/bare.log" 30 || die "bare axum did not start"
fi

# ---------------------------------------------------------------- seed + sanity checks
declare -A COOKIE TOKEN PID PORT RSS0 RSS1 HWM1 DEAD
PID[reference]=$ref_pid; PID[palisade]=$pal_pid
PORT[reference]=$REF_PORT; PORT[palisade]=$PAL_PORT
servers="reference palisade"
if wants get-session-cache; then
  PID[reference-cc]=$ref_cc_pid; PID[palisade-cc]=$pal_cc_pid
  PORT[reference-cc]=$REF_CC_PORT; PORT[palisade-cc]=$PAL_CC_PORT
  servers+=" reference-cc palisade-cc"
fi
if wants bare-axum; then PID[bare-axum]=$bare_pid; PORT[bare-axum]=$BARE_PORT; fi
# Which servers a scenario loads.
servers_for() {
  case $1 in
    get-session-cache) echo "reference-cc palisade-cc" ;;
    bare-axum) echo "bare-axum" ;;
    *) echo "reference palisade" ;;
  esac
}
# Cookies of a sign-in made just before the cookie-cache scenario (session_token + session_data),
# so the cached copy (300 s) outlives the run.
cache_cookies() { # server
  local base="http://127.0.0.1:${PORT[$1]}"
  curl -sS -o /dev/null -D "$tmp/$1-cc.hdr" --max-time 30 -H 'Content-Type: application/json' \
    --data "{\"email\":\"$SEED_EMAIL\",\"password\":\"$PASSWORD\"}" "$base/api/auth/sign-in/email" || true
  tr -d '\r' <"$tmp/$1-cc.hdr" | awk 'tolower($1) == "set-cookie:" && $2 ~ /(session_token|session_data)=./ { split($2, a, ";"); print a[1] }' | paste -sd';' - | sed 's/;/; /g'
}

rss_kb() { awk -v f="${2:-VmRSS}:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null || true; }
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $12 + $13 }'; }
mib() { [ -n "${1:-}" ] && awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }' || echo "n/a"; }
clk_tck=$(getconf CLK_TCK)

check() { # server what expected-status body-substring curl-args…
  local s=$1 what=$2 want=$3 sub=$4; shift 4
  local code
  code=$(curl -sS -o "$tmp/check.body" -w '%{http_code}' --max-time 30 "$@") || true
  if [ "$code" != "$want" ] || ! grep -qF -- "$sub" "$tmp/check.body"; then
    say "WARNING: $s: $what answered $code: $(head -c 300 "$tmp/check.body")"
    return 1
  fi
}

for s in $servers; do
  base="http://127.0.0.1:${PORT[$s]}"
  code=$(curl -sS -o "$tmp/$s-seed.body" -D "$tmp/$s-seed.hdr" -w '%{http_code}' --max-time 30 \
    -H 'Content-Type: application/json' \
    --data "{\"email\":\"$SEED_EMAIL\",\"password\":\"$PASSWORD\",\"name\":\"Bench Seed\"}" \
    "$base/api/auth/sign-up/email") || code=000
  [ "$code" = 200 ] || die "$s: seeding sign-up answered $code: $(head -c 300 "$tmp/$s-seed.body")"
  COOKIE[$s]=$(tr -d '\r' <"$tmp/$s-seed.hdr" | awk 'tolower($1) == "set-cookie:" && $2 ~ /session_token=/ { split($2, a, ";"); print a[1]; exit }')
  TOKEN[$s]=$(tr -d '\r' <"$tmp/$s-seed.hdr" | awk 'tolower($1) == "set-auth-token:" { print $2; exit }')
  [ -n "${COOKIE[$s]}" ] || die "$s: sign-up sent no session cookie"
  [ -n "${TOKEN[$s]}" ] || die "$s: sign-up sent no set-auth-token header"
  check "$s" "get-session by cookie" 200 '"session"' -H "Cookie: ${COOKIE[$s]}" "$base/api/auth/get-session" || true
  check "$s" "get-session by bearer" 200 '"session"' -H "Authorization: Bearer ${TOKEN[$s]}" "$base/api/auth/get-session" || true
  check "$s" "sign-in" 200 '"token"' -H 'Content-Type: application/json' \
    --data "{\"email\":\"$SEED_EMAIL\",\"password\":\"$PASSWORD\"}" "$base/api/auth/sign-in/email" || true
  sleep 1
  RSS0[$s]=$(rss_kb "${PID[$s]}")
done

# ---------------------------------------------------------------- load
declare -A RPS P50 P99 ERR CPU BG NOTE CC_COOKIE
run_wrk() { # server scenario seconds -> BENCH_RESULT line on stdout; full output appended to $raw
  local s=$1 sc=$2 secs=$3 script hdr=() expect
  case $sc in
    get-session-cookie) script=get-session.lua; expect='"session"'; hdr=(-H "Cookie: ${COOKIE[$s]}") ;;
    get-session-bearer) script=get-session.lua; expect='"session"'; hdr=(-H "Authorization: Bearer ${TOKEN[$s]}") ;;
    get-session-cache) script=get-session.lua; expect='"session"'; hdr=(-H "Cookie: ${CC_COOKIE[$s]}") ;;
    bare-axum) script=get-session.lua; expect='"session"' ;;
    sign-in) script=sign-in.lua; expect='"token"' ;;
    sign-up) script=sign-up.lua; expect='"token"' ;;
    token) script=token.lua; expect='"token"'; hdr=(-H "Cookie: ${COOKIE[$s]}") ;;
    convex-token) script=convex-token.lua; expect='"token"'; hdr=(-H "Cookie: ${COOKIE[$s]}") ;;
    *) die "unknown scenario $sc" ;;
  esac
  {
    echo "=== $s $sc ${secs}s $(date -u +%H:%M:%S) loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
    BENCH_LUA_DIR="$lua_dir" BENCH_EXPECT="$expect" BENCH_EMAIL="$SEED_EMAIL" BENCH_PASSWORD="$PASSWORD" \
      BENCH_TAG="$TAG$s$secs" \
      wrk -t"$BENCH_THREADS" -c"$BENCH_CONNECTIONS" -d"${secs}s" --timeout "$BENCH_TIMEOUT" --latency \
      -s "$lua_dir/$script" "${hdr[@]}" "http://127.0.0.1:${PORT[$s]}" 2>&1 || echo "wrk exited with $?"
  } | tee -a "$raw" | grep -E '^BENCH_(RESULT|FIRST_BAD)|^wrk exited' || true
}

# Wait until the server has finished the work wrk abandoned (requests in flight when wrk stops keep
# running server-side: scrypt for sign-in/sign-up), so it does not eat into the next measurement.
wait_idle() { # pid -> seconds waited on stdout
  local pid=$1 a b i
  for i in $(seq 1 240); do
    a=$(cpu_ticks "$pid"); sleep 0.5; b=$(cpu_ticks "$pid")
    { [ -z "$a" ] || [ -z "$b" ] || [ $((b - a)) -le $((clk_tck / 20)) ]; } && break   # < 10% of a core
  done
  echo "$(( i / 2 ))"
}

cpu_total() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9; exit }' /proc/stat; }
busy_pct() { # "busy total" before, after -> machine CPU in % of one core (200% = both cores busy)
  awk -v a="$1" -v b="$2" -v n="$(nproc)" 'BEGIN { split(a, x, " "); split(b, y, " ");
    d = y[2] - x[2]; printf "%.0f%%", (d > 0 ? 100 * n * (y[1] - x[1]) / d : 0) }'
}

field() { sed -n "s/.*[[:space:]]$1=\([^[:space:]]*\).*/\1/p" <<<"$2" | head -1; }

say "running: warm-up ${BENCH_WARMUP}s + ${BENCH_SECONDS}s per scenario and server, wrk -t$BENCH_THREADS -c$BENCH_CONNECTIONS --timeout $BENCH_TIMEOUT"
for sc in $BENCH_SCENARIOS; do
  for s in $(servers_for "$sc"); do
    key="$sc/$s"
    if [ -n "${DEAD[$s]:-}" ]; then RPS[$key]="-"; NOTE[$key]="server had crashed"; continue; fi
    if [ "$sc" = convex-token ] && [ "$s" = reference ]; then
      RPS[$key]="-"; NOTE[$key]="no /convex/token outside Convex (WIRE.md §14): compare with token / reference"; continue
    fi
    if [ "$sc" = get-session-cache ]; then
      CC_COOKIE[$s]=$(cache_cookies "$s")
      [[ ${CC_COOKIE[$s]} == *session_data=* ]] || say "WARNING: $s: sign-in sent no session_data cookie"
    fi
    idle=$(wait_idle "${PID[$s]}")
    [ "$BENCH_WARMUP" -gt 0 ] && run_wrk "$s" "$sc" "$BENCH_WARMUP" >/dev/null
    idle2=$(wait_idle "${PID[$s]}")
    echo "($s $sc: waited ${idle}s / ${idle2}s for the server to go idle before warm-up / run)" >>"$raw"
    m0=$(cpu_total); sleep 1; m1=$(cpu_total)
    BG[$key]=$(busy_pct "$m0" "$m1")   # both servers idle, wrk not running: other processes' load
    c0=$(cpu_ticks "${PID[$s]}")
    t0=$(date +%s.%N)
    res=$(run_wrk "$s" "$sc" "$BENCH_SECONDS")
    t1=$(date +%s.%N)
    c1=$(cpu_ticks "${PID[$s]}")
    m2=$(cpu_total)
    echo "($s $sc: machine CPU ${BG[$key]} in the second before the run, $(busy_pct "$m1" "$m2") during it)" >>"$raw"
    line=$(grep -m1 '^BENCH_RESULT' <<<"$res" || true)
    if [ -z "$line" ]; then
      RPS[$key]="-"; NOTE[$key]="wrk gave no result: $(tail -1 <<<"$res")"
    else
      RPS[$key]=$(field ok_rps "$line"); P50[$key]=$(field p50_ms "$line"); P99[$key]=$(field p99_ms "$line")
      bad=$(field bad "$line")
      sock=$(( $(field connect "$line") + $(field read "$line") + $(field write "$line") + $(field timeout "$line") ))
      ERR[$key]=$(( bad + sock ))
      if [ "${ERR[$key]}" -gt 0 ]; then
        NOTE[$key]="of $(field requests "$line") requests: $bad wrong answers, socket errors connect/read/write/timeout $(field connect "$line")/$(field read "$line")/$(field write "$line")/$(field timeout "$line")"
        first=$(grep -m1 '^BENCH_FIRST_BAD' <<<"$res" | cut -d' ' -f2- || true)
        [ -n "$first" ] && NOTE[$key]+="; first wrong answer: $first"
      fi
      [ -n "$c0" ] && [ -n "$c1" ] && CPU[$key]=$(awk -v a="$c0" -v b="$c1" -v t0="$t0" -v t1="$t1" -v hz="$clk_tck" \
        'BEGIN { printf "%.0f%%", 100 * (b - a) / hz / (t1 - t0) }')
    fi
    if ! alive "${PID[$s]}"; then
      DEAD[$s]=1; NOTE[$key]="${NOTE[$key]:+${NOTE[$key]}; }SERVER DIED during this run"
      log=$tmp/ref.log; [ "$s" = palisade ] && log=$tmp/pal.log
      say "WARNING: $s died during $sc; last lines of its log:"; tail -20 "$log" | tee -a "$out"
    fi
    say "  $(printf '%-19s %-12s' "$sc" "$s") ${RPS[$key]} req/s  p50 ${P50[$key]:-?} ms  p99 ${P99[$key]:-?} ms  errors ${ERR[$key]:-?}"
  done
done
# The yardstick ratio: palisade-cc and bare axum alternately, BENCH_YARDSTICK_ROUNDS times, so a
# slow moment of the machine hits both; the median of the per-round ratios is reported.
YARD=()
if wants get-session-cache && wants bare-axum && [ -z "${DEAD[palisade-cc]:-}" ] && [ "$BENCH_YARDSTICK_ROUNDS" -gt 0 ]; then
  say "yardstick: $BENCH_YARDSTICK_ROUNDS alternating rounds of ${BENCH_SECONDS}s, palisade-cc then bare-axum"
  for i in $(seq 1 "$BENCH_YARDSTICK_ROUNDS"); do
    CC_COOKIE[palisade-cc]=$(cache_cookies palisade-cc)
    # Every server idle (the reference's garbage collection after sign-up load skews a round).
    for p in "${PID[@]}"; do alive "$p" && wait_idle "$p" >/dev/null; done
    c=$(field ok_rps "$(run_wrk palisade-cc get-session-cache "$BENCH_SECONDS" | grep -m1 '^BENCH_RESULT' || true)")
    for p in "${PID[@]}"; do alive "$p" && wait_idle "$p" >/dev/null; done
    b=$(field ok_rps "$(run_wrk bare-axum bare-axum "$BENCH_SECONDS" | grep -m1 '^BENCH_RESULT' || true)")
    YARD+=("$(awk -v c="$c" -v b="$b" 'BEGIN { if (b + 0 > 0) printf "%.1f", 100 * c / b; else print "0" }')")
    say "  round $i: palisade-cc ${c:-?} req/s, bare-axum ${b:-?} req/s: ${YARD[-1]}%"
  done
fi
measured="$servers"; wants bare-axum && measured+=" bare-axum"
for s in $measured; do
  alive "${PID[$s]}" && wait_idle "${PID[$s]}" >/dev/null
  if alive "${PID[$s]}"; then RSS1[$s]=$(rss_kb "${PID[$s]}"); HWM1[$s]=$(rss_kb "${PID[$s]}" VmHWM); fi
done

# ---------------------------------------------------------------- report
dirty=$(git -C "$repo" --no-optional-locks status --porcelain --untracked-files=no 2>/dev/null | wc -l)
say ""
say "Palisade benchmark  $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
say "commit $(git -C "$repo" rev-parse --short HEAD)$([ "$dirty" -gt 0 ] && echo " + $dirty modified files")  $(nproc) cores  loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
say "wrk -t$BENCH_THREADS -c$BENCH_CONNECTIONS --timeout $BENCH_TIMEOUT, ${BENCH_WARMUP}s warm-up + ${BENCH_SECONDS}s per scenario and server, one server loaded at a time; wrk runs on the same cores"
say "reference: better-auth $(node -p 'require(process.argv[1]).version' "${CONFORMANCE_WORKDIR:-${TMPDIR:-/tmp}/palisade-conformance}/node_modules/better-auth/package.json" 2>/dev/null || echo '?') on node $(node --version), NODE_ENV=$ref_node_env, RATE_LIMIT=0"
say "palisade:  $("$tmp/palisade" --version 2>/dev/null || echo '?') (release), PALISADE_ENV=production, rate limit off, database ${pal_db%%:*}${pal_redis:+ + redis secondary storage}"
say "req/s counts correct answers only (200 and the expected body); errors = wrong answers + socket errors/timeouts;"
say "latency percentiles from wrk (completed requests); server CPU = server process CPU time / wall time (200% = both cores);"
say "bg CPU = whole-machine CPU in the second before the run, both servers idle (other processes; should be near 0%)"
say ""
say "| scenario           | server       |     req/s |   p50 ms |   p99 ms | errors | server CPU | bg CPU |"
say "|--------------------|--------------|----------:|---------:|---------:|-------:|-----------:|-------:|"
for sc in $BENCH_SCENARIOS; do
  for s in $(servers_for "$sc"); do
    k="$sc/$s"
    say "$(printf '| %-18s | %-12s | %9s | %8s | %8s | %6s | %10s | %6s |' "$sc" "$s" "${RPS[$k]:--}" "${P50[$k]:--}" "${P99[$k]:--}" "${ERR[$k]:--}" "${CPU[$k]:--}" "${BG[$k]:--}")"
  done
done
say ""
say "Palisade / reference (req/s):"
for sc in $BENCH_SCENARIOS; do
  [ "$sc" = bare-axum ] && continue
  set -- $(servers_for "$sc")
  r=${RPS[$sc/$1]:--} p=${RPS[$sc/$2]:--}
  ratio=$(awk -v r="$r" -v p="$p" 'BEGIN { if (r + 0 > 0 && p != "-") printf "%.2fx", p / r; else print "n/a" }')
  say "$(printf '  %-19s %s' "$sc" "$ratio")"
done
if wants get-session-cache && wants bare-axum; then
  c=${RPS[get-session-cache/palisade-cc]:--} b=${RPS[bare-axum/bare-axum]:--}
  say "$(awk -v c="$c" -v b="$b" 'BEGIN { if (b + 0 > 0 && c != "-") printf "Palisade get-session with cookie cache / bare axum handler (same run): %.0f%% (target >= 60%%)", 100 * c / b; else print "cookie cache / bare axum: n/a" }')"
  if [ ${#YARD[@]} -gt 0 ]; then
    median=$(printf '%s\n' "${YARD[@]}" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }')
    say "  alternating rounds: ${YARD[*]} (%); median ${median}% (target >= 60%)"
  fi
fi
say ""
say "$scrypt_line"
say ""
say "memory (VmRSS; peak = VmHWM over the whole run):"
for s in $measured; do
  say "$(printf '  %-12s  idle after start+seed %-11s  after load %-11s  peak %s' "$s" "$(mib "${RSS0[$s]:-}")" "$(mib "${RSS1[$s]:-}")" "$(mib "${HWM1[$s]:-}")")"
done
notes=0
for sc in $BENCH_SCENARIOS; do
  for s in $(servers_for "$sc"); do
    k="$sc/$s"
    if [ -n "${NOTE[$k]:-}" ]; then
      [ "$notes" = 0 ] && { say ""; say "notes:"; }
      notes=1
      say "  $sc / $s: ${NOTE[$k]}"
    fi
  done
done
say ""
say "written to ${out#"$repo"/} (raw wrk output: ${raw#"$repo"/})"
failed=0
