#!/usr/bin/env bash
# Runs the plugin conformance tests (conformance/plugins/*.test.mjs) against a server that has
# Better Auth's plugin profile on (see docs/plugins-wire.md and the shared suite's README).
#   scripts/plugin-conformance.sh BASE_URL [NN-name.test.mjs | plugins/NN-name.test.mjs ...]
# Env passed through to the tests: EMAIL_LOG (required for the message-based plugins),
# BETTER_AUTH_SECRET, SQLITE_DB, ORIGIN, CONFORMANCE_WORKDIR. PLUGINS (e.g. `username,anonymous`):
# the plugins the server has; with no files given, only their files run (`NN-<plugin>.test.mjs`).
# The shared runner copies the shared suite to $WORK/conformance (wiped on every run); the plugin
# tests are copied next to it, to $WORK/plugins, and import "../conformance/lib.mjs".
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
shared=${CONFORMANCE_DIR:-${PALISADE_SHARED:-$repo/../shared}/conformance}
base=${1:?usage: plugin-conformance.sh BASE_URL [test files...]}; shift
work=${CONFORMANCE_WORKDIR:-${TMPDIR:-/tmp}/palisade-conformance}
mkdir -p "$work"
rm -rf "$work/plugins"
mkdir -p "$work/plugins"
cp "$repo"/conformance/plugins/*.mjs "$work/plugins/"
files=()
if [ "$#" -eq 0 ]; then
  for f in "$work"/plugins/*.test.mjs; do
    name=$(basename "$f" .test.mjs); name=${name#*-}
    [ -z "${PLUGINS:-}" ] || [[ ",$PLUGINS," == *",$name,"* ]] || continue
    files+=("plugins/$(basename "$f")")
  done
else
  for f in "$@"; do files+=("plugins/$(basename "$f")"); done
fi
exec "$shared/run.sh" "$base" "${files[@]}"
