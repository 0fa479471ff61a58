"""CoinGecko-compatible simulator for offline runs.

Usage: ``python scripts/coingecko_sim.py --port 0 --config sim.json``.

Serves ``/api/v3/simple/price`` on 127.0.0.1 (or ``--host``) with per-API-key scripted behaviour (see
``devtools/coingecko_simulator.py`` and ``docs/pricefeed.md``). The first line printed is
``coingecko-sim listening on http://127.0.0.1:<port>``; stop with Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from devtools.coingecko_simulator import SimConfigError, load_config_file, start_simulator  # noqa: E402


async def _serve(config: dict[str, Any], port: int, host: str) -> None:
    runner, base_url = await start_simulator(config, port, host=host)
    root = base_url.removesuffix("/api/v3")
    print(f"coingecko-sim listening on {root}", flush=True)
    print(f"coingecko-sim: base_url for pricefeed.json is {base_url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        print("coingecko-sim stopped", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, load the configuration and serve until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: an ephemeral port)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--config", help="JSON configuration file (coins, keys and their modes)")
    args = parser.parse_args(argv)
    try:
        config = load_config_file(args.config) if args.config else {}
    except (OSError, ValueError) as exc:
        print(f"coingecko-sim: cannot use --config {args.config}: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve(config, args.port, args.host))
    except OSError as exc:
        print(f"coingecko-sim: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    except SimConfigError as exc:
        print(f"coingecko-sim: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
