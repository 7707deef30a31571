#!/usr/bin/env bash
# Runs every test: formatting and lints, the Rust tests (unit + integration, which start the
# real server), and the Better Auth conformance suite against the built server in the
# default and rate-limit configurations. Exits non-zero on any failure.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
shared=${PALISADE_SHARED:-$root/../shared}
conformance="$shared/conformance"

# Conformance files owned by issues that have not landed yet (printed below, never silent).
SKIP_FILES=${SKIP_FILES-"12-cross-domain 14-cookie-cache"}

step() { printf '\n== %s\n' "$*"; }

step "prerequisites"
python3 -c 'import aiosmtpd' 2>/dev/null || python3 -m pip install -q --disable-pip-version-check aiosmtpd
command -v node >/dev/null || { echo "node is required for the conformance suite"; exit 1; }

step "cargo fmt --check / clippy"
cargo fmt --all -- --check
cargo clippy --release --all-targets -- -D warnings

step "Rust tests (unit + integration)"
cargo test --release

step "build the server"
cargo build --release --bin palisade
bin="$root/target/release/palisade"

secret="conformance-secret-0123456789-abcdefghijklmnop"
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# start_server NAME CONFIG -> sets $port, $dir
start_server() {
  local name=$1 config=$2
  dir="$work/$name"; mkdir -p "$dir"
  port=$(free_port)
  PALISADE_CONFIG="$root/conformance/$config" BETTER_AUTH_SECRET="$secret" \
    DATABASE_URL="sqlite://$dir/palisade.db" PALISADE_EMAIL_LOG="$dir/emails.jsonl" \
    PALISADE_LISTEN="127.0.0.1:$port" BASE_URL="http://127.0.0.1:$port" PALISADE_LOG=warn \
    "$bin" serve >"$dir/server.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$port/api/auth/ok" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "server $name did not start:"; cat "$dir/server.log"; exit 1
}

files=()
skipped=()
for f in "$conformance"/conformance/*.test.mjs; do
  n=$(basename "$f" .test.mjs)
  if [[ " $SKIP_FILES " == *" $n "* ]]; then skipped+=("$n"); else files+=("conformance/$(basename "$f")"); fi
done
[ ${#skipped[@]} -eq 0 ] || echo "conformance files left out (other issues): ${skipped[*]}"

status=0
step "conformance: default configuration"
start_server default default.toml
EMAIL_LOG="$dir/emails.jsonl" SQLITE_DB="$dir/palisade.db" SQLITE_DB_WRITE=1 BETTER_AUTH_SECRET="$secret" \
  "$conformance/run.sh" "http://127.0.0.1:$port" "${files[@]}" | tee "$work/default.out" | grep -E '^(not ok|# (pass|fail))|passed, ' || true
grep -qE '^[0-9]+ passed, 0 failed' "$work/default.out" || { status=1; grep -E '^\s*not ok' "$work/default.out" || true; }

step "conformance: rate-limit configuration"
start_server rate-limit rate-limit.toml
EMAIL_LOG="$dir/emails.jsonl" EXPECT_RATE_LIMIT=1 BETTER_AUTH_SECRET="$secret" \
  "$conformance/run.sh" "http://127.0.0.1:$port" conformance/11-rate-limit.test.mjs | tee "$work/rate.out" | grep -E 'passed, ' || true
grep -qE '^[0-9]+ passed, 0 failed' "$work/rate.out" || { status=1; grep -E '^\s*not ok' "$work/rate.out" || true; }

step "summary"
d=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$work/default.out" | tail -1)
r=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$work/rate.out" | tail -1)
echo "conformance default: $d"
echo "conformance rate-limit: $r"
exit $status
