#!/usr/bin/env bash
# Install Shopify's toxiproxy server (a userspace TCP proxy that adds latency) into .tools/bin with
# `go install`, for the latency runs of the multi-host chain where the kernel has no netem qdisc.
# Does nothing when the pinned version is already there.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
version="v2.5.0"
bin="$root/.tools/bin"
mkdir -p "$bin"
if [ -x "$bin/toxiproxy-server" ] && [ "$(cat "$bin/toxiproxy-server.version" 2>/dev/null)" = "$version" ]; then
  exit 0
fi
echo "==> installing toxiproxy $version (toxiproxy-server) into $bin with go install"
tmp="$(mktemp -d)"
GOBIN="$tmp" GOFLAGS=-mod=mod go install "github.com/Shopify/toxiproxy/v2/cmd/server@$version"
mv "$tmp/server" "$bin/toxiproxy-server"
rmdir "$tmp"
echo "$version" > "$bin/toxiproxy-server.version"  # the binary reports no version of its own
echo "==> toxiproxy-server $version installed"
