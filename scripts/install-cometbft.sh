#!/usr/bin/env bash
# Install the pinned CometBFT release (cometbft and abci-cli) into the project-local tools folder.
# Does nothing when the pinned version is already installed there.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
version="$(cat "$root/COMETBFT_VERSION")"
bin="$root/.tools/bin"
mkdir -p "$bin"
if [ -x "$bin/cometbft" ] && [ -x "$bin/abci-cli" ] && [ "$("$bin/cometbft" version 2>/dev/null)" = "${version#v}" ]; then
  exit 0
fi
echo "==> installing CometBFT $version (cometbft, abci-cli) into $bin with go install; first run compiles for a few minutes"
GOBIN="$bin" GOFLAGS=-mod=mod go install "github.com/cometbft/cometbft/cmd/cometbft@$version"
GOBIN="$bin" GOFLAGS=-mod=mod go install "github.com/cometbft/cometbft/abci/cmd/abci-cli@$version"
echo "==> CometBFT $("$bin/cometbft" version) installed"
