#!/usr/bin/env bash
# A Taskmaster chain across separate network hosts: one Linux network namespace per validator, each with
# its own address on a bridge, every node set up by the operator commands (docs/operators.md). Needs root.
#
#   scripts/multihost.sh up       namespaces + genesis ceremony + start N validators; returns at height >= 3
#   scripts/multihost.sh status   height and app hash of every node
#   scripts/multihost.sh down     stop every node and the simulator, remove the namespaces (--purge: homes too)
#
# A failed `up` stops what it started and removes its namespaces; the homes stay for their logs until the
# next `up` (which replaces them) or `down --purge`.
# --validators <count> (default 4); --dir <d> (default .multihost/). Node i listens on 10.x.y.(10+i).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

case "${1:-}" in
  up|down|status) ;;
  *)
    sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac

if [ ! -x .venv/bin/python ] || [ ! -x .tools/bin/cometbft ] || [ ! -d gen ]; then
  echo "==> .venv, CometBFT or generated stubs missing: running make build (a few minutes the first time)"
  build_log="$(mktemp)"
  if ! make build >"$build_log" 2>&1; then
    cat "$build_log" >&2
    rm -f "$build_log"
    echo "error: make build failed (output above)" >&2
    exit 1
  fi
  rm -f "$build_log"
fi

exec .venv/bin/python -m devtools.multihost "$@"
