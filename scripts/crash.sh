#!/usr/bin/env bash
# The server killed with SIGKILL in the middle of a sign-up load, then restarted, on SQLite,
# PostgreSQL and MariaDB: every user has its account and its app row (written by a hook in the
# same transaction), no session belongs to a missing user, and the server serves again.
# Usage: scripts/crash.sh path/to/palisade
set -euo pipefail
bin=$(realpath "$1")
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
name="palisade_conf_crash_$(date +%s%N | tail -c 9)"

cat >"$work/hooks.toml" <<'EOF'
[hooks.user]
after_create = "INSERT INTO app_users (email, name) VALUES (:email, :name) RETURNING id"
[hooks.session]
after_create = "INSERT INTO app_logins (user_id, session_id) VALUES (:userId, :id)"
EOF

# sql BACKEND STATEMENT -> the first column of the first row
sql() {
  case $1 in
    sqlite) sqlite3 "$work/crash.db" "$2" ;;
    postgres) psql -qtA -h 127.0.0.1 -U postgres -d "$name" -c "$2" ;;
    mysql) mariadb -N -h 127.0.0.1 -uroot "$name" -e "$2" ;;
  esac
}

setup() {
  local key
  case $1 in
    sqlite) url="sqlite://$work/crash.db"; key="INTEGER PRIMARY KEY AUTOINCREMENT"; touch "$work/crash.db" ;;
    postgres) url="postgres://postgres@127.0.0.1:5432/$name"; key="SERIAL PRIMARY KEY"
      psql -q -h 127.0.0.1 -U postgres -d test -c "create database $name" ;;
    mysql) url="mysql://root@127.0.0.1:3306/$name"; key="INTEGER PRIMARY KEY AUTO_INCREMENT"
      mariadb -h 127.0.0.1 -uroot -e "create database $name" ;;
  esac
  sql "$1" "CREATE TABLE app_users (id $key, email VARCHAR(255) UNIQUE, name VARCHAR(255))"
  sql "$1" "CREATE TABLE app_logins (user_id VARCHAR(255), session_id VARCHAR(255))"
  if [ "$1" != sqlite ]; then DATABASE_URL=$url PALISADE_CONFIG="$work/hooks.toml" "$bin" migrate >/dev/null; fi
}

start() {
  port=$(free_port)
  PALISADE_CONFIG="$work/hooks.toml" DATABASE_URL=$url BETTER_AUTH_SECRET=crash-test-secret-0123456789-abcdefghij \
    PALISADE_LISTEN=127.0.0.1:$port BASE_URL=http://127.0.0.1:$port PALISADE_LOG=error "$bin" serve >>"$work/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/api/auth/ok" >/dev/null 2>&1 && return 0; sleep 0.1; done
  cat "$work/server.log"; exit 1
}

sign_up() {
  curl -s -o /dev/null -w '%{http_code}\n' -H 'content-type: application/json' -H "origin: http://127.0.0.1:$port" \
    -d "{\"email\":\"u$1@crash.test\",\"password\":\"password-123\",\"name\":\"U$1\"}" "http://127.0.0.1:$port/api/auth/sign-up/email" || true
}
export -f sign_up

for backend in sqlite postgres mysql; do
  setup $backend
  start
  export port
  seq 1 400 | xargs -P 16 -I{} bash -c 'sign_up {}' >"$work/codes" &
  load=$!
  sleep 3
  kill -9 $pid
  wait $pid 2>/dev/null || true
  wait $load || true
  ok=$(grep -c '^200$' "$work/codes" || true)
  start
  [ "$backend" = mysql ] && q='`' || q='"'
  users=$(sql $backend "SELECT COUNT(*) FROM ${q}user${q}")
  accounts=$(sql $backend "SELECT COUNT(*) FROM ${q}account${q}")
  apps=$(sql $backend "SELECT COUNT(*) FROM app_users")
  linked=$(sql $backend "SELECT COUNT(*) FROM ${q}user${q} u JOIN app_users a ON a.email = u.email AND CAST(a.id AS CHAR(20)) = u.${q}userId${q}")
  orphans=$(sql $backend "SELECT COUNT(*) FROM ${q}session${q} s LEFT JOIN ${q}user${q} u ON u.id = s.${q}userId${q} WHERE u.id IS NULL")
  logins=$(sql $backend "SELECT COUNT(*) FROM app_logins")
  sessions=$(sql $backend "SELECT COUNT(*) FROM ${q}session${q}")
  after=$(sign_up after)
  echo "crash-$backend: acknowledged=$ok users=$users accounts=$accounts app_users=$apps linked=$linked sessions=$sessions app_logins=$logins orphan_sessions=$orphans sign-up-after-restart=$after"
  if [ "$users" -lt "$ok" ] || [ "$users" != "$accounts" ] || [ "$users" != "$apps" ] || [ "$users" != "$linked" ] \
     || [ "$sessions" != "$logins" ] || [ "$orphans" != 0 ] || [ "$after" != 200 ] || [ "$ok" -ge 400 ]; then
    echo "crash-$backend: FAILED"; exit 1
  fi
  kill -9 $pid; wait $pid 2>/dev/null || true; pid=
  case $backend in
    postgres) psql -q -h 127.0.0.1 -U postgres -d test -c "drop database $name" ;;
    mysql) mariadb -h 127.0.0.1 -uroot -e "drop database $name" ;;
  esac
done
echo "crash: passed"
