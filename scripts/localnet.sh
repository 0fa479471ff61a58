#!/usr/bin/env bash
# A local multi-validator Taskmaster chain on 127.0.0.1 (data under .localnet/ in the repository).
#
#   scripts/localnet.sh up       init N validator homes if needed, start them, return once height >= 3
#   scripts/localnet.sh status   height, app hash and process state of every node
#   scripts/localnet.sh env      NODE<i>_RPC / NODE<i>_GRPC / JOIN<k>_RPC / KEYRING_HOME lines (eval-able)
#   scripts/localnet.sh down     stop every node (add --purge to delete .localnet/)
#   scripts/localnet.sh join     add a non-validator node (--state-sync: restore a snapshot instead of replaying;
#                                the validators `up` makes take one every 20 blocks)
#
# N=<count> (default 4) or --nodes <count> sets the number of validators; --base-port <p> (default 27000)
# the first port (node i uses p+10*i .. p+10*i+3: rpc, p2p, abci, grpc); --dir <d> another directory.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

case "${1:-}" in
  up|down|status|env|join) ;;
  *)
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
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

export N="${N:-4}"
exec .venv/bin/python -m devtools.localnet "$@"
