"""``taskmaster start``: the ABCI, gRPC and REST servers on one event loop, and a supervised CometBFT child.

Shutdown on SIGINT/SIGTERM is orderly: CometBFT first (so it stops sending blocks), then the servers,
then the store. A CometBFT child that exits on its own is restarted a few times with a back-off, and
its output goes to ``<home>/cometbft.log``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import signal
import tomllib
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc

from abci_app.abci.server import AbciServer
from abci_app.app import AppConfig, Application
from abci_app.grpc.server import build_server
from abci_app.modules.cosmos_node.services import abci_query_route, comet_rpc_of_home
from abci_app.modules.cosmos_node.services import routes as comet_routes
from abci_app.node.genesis import GenesisError, load_genesis
from abci_app.node.home import AppSettings, SettingsError, cometbft_binary, genesis_chain_id
from abci_app.node.malloc import limit_malloc_arenas
from abci_app.node.metrics import NodeMetrics
from abci_app.node.oracle_liveness import OracleLiveness
from abci_app.node.oracle_service import OracleService
from abci_app.node.tasks_metrics import TasksMetrics
from abci_app.pricefeed.config import FeedConfig, config_path
from abci_app.rest.server import start as start_rest
from abci_app.statesync.manager import SnapshotPolicy
from abci_app.tx import rpc_service

log = logging.getLogger("abci_app.node")
MAX_RESTARTS = 5


async def _supervise_cometbft(home: Path, settings: AppSettings, stop: asyncio.Event) -> bool:
    """Run CometBFT, restarting it (with growing pauses) when it exits, until ``stop``.

    Returns True on a requested stop, False after giving up (which also sets ``stop``).
    """
    restarts = 0
    log_path = home / settings.cometbft_log
    while not stop.is_set():
        with open(log_path, "ab") as out:
            proc = await asyncio.create_subprocess_exec(
                cometbft_binary(), "start", "--home", str(home), stdout=out, stderr=out
            )
            print(f"cometbft started (pid {proc.pid}), log: {log_path}", flush=True)
            waiter = asyncio.ensure_future(proc.wait())
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if stop.is_set():
                if proc.returncode is None:
                    proc.terminate()
                    try:
                        await asyncio.wait_for(waiter, 15)
                    except TimeoutError:
                        proc.kill()
                        await waiter
                stopper.cancel()
                return True
            stopper.cancel()
        restarts += 1
        if restarts > MAX_RESTARTS:
            log.error("cometbft exited %s times; giving up (see %s)", restarts, log_path)
            stop.set()
            return False
        log.error("cometbft exited with %s; restarting in %ss (see %s)", proc.returncode, restarts, log_path)
        await asyncio.sleep(restarts)
    return True


def _cometbft_rpc(home: Path) -> rpc_service.Rpc | None:
    """This node's CometBFT RPC (``[rpc] laddr`` of config.toml) for the tx service, if it has one."""
    try:
        laddr = str(tomllib.loads((home / "config" / "config.toml").read_text())["rpc"]["laddr"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return None
    host_port = laddr.split("://", 1)[-1]
    if host_port.startswith("0.0.0.0:"):
        host_port = "127.0.0.1:" + host_port.split(":", 1)[1]
    return rpc_service.http_rpc(f"http://{host_port}")


def consensus_address(home: Path) -> bytes:
    """This node's validator address, from CometBFT's ``priv_validator_key.json`` (empty if none)."""
    path = home / "config" / "priv_validator_key.json"
    if not path.exists():
        return b""
    return bytes.fromhex(json.loads(path.read_text())["address"])


async def _dev_simulator(app: Application, home: Path) -> tuple[OracleService, Callable[[], Awaitable[None]]]:
    """An in-process CoinGecko simulator and a feed pointing at it (``make run`` without an API key)."""
    from devtools.coingecko_simulator import start_simulator  # dev tooling: imported only by run-dev

    runner, base_url = await start_simulator(
        {
            "coins": {"bitcoin": {"usd": "67187.33"}, "ethereum": {"usd": "3512.08"}},
            "drift_per_s": {"bitcoin/usd": "0.5", "ethereum/usd": "0.01"},
            "keys": {"sim-dev": {}},
        }
    )
    print(
        f"no CoinGecko API key configured ({config_path(home)} is missing): prices come from the built-in "
        f"CoinGecko simulator at {base_url}; write that file with your key and the real base URL "
        "to use CoinGecko",
        flush=True,
    )
    feed = FeedConfig(base_url=base_url, api_key="sim-dev", poll_interval_s=2.0, timeout_s=2.0)
    return OracleService(app, feed), runner.cleanup


class StartError(RuntimeError):
    """The node cannot start; the message says what to change."""


class ListenError(StartError):
    """A server of the node could not listen on its configured address."""


async def serve(
    home: Path, *, with_cometbft: bool = True, print_blocks: bool = True, simulate_prices: bool = False
) -> int:
    """Run the node until SIGINT/SIGTERM; returns the exit code.

    With ``simulate_prices`` and no ``config/pricefeed.json``, the price feed uses an in-process
    CoinGecko simulator (the offline default of ``make run``).
    """
    try:
        settings = AppSettings.load(home)
    except SettingsError as exc:
        raise StartError(str(exc)) from exc
    if with_cometbft and shutil.which(cometbft_binary()) is None:
        raise StartError(
            f"CometBFT not found at {cometbft_binary()}; run scripts/install-cometbft.sh (make run does), "
            "set COMETBFT to its path, or start with --no-cometbft and run it yourself"
        )
    limit_malloc_arenas()  # before the store's threads start (malloc.py says why)
    app = Application(
        AppConfig(
            db_path=str(home / "data" / "app.db"),
            keep_recent=settings.keep_recent,
            keep_every=settings.keep_every,
            min_retain_blocks=settings.min_retain_blocks,
            consensus_address=consensus_address(home),
            snapshot_dir=str(home / "data" / "snapshots"),
            data_dir=str(home / "data"),
            snapshots=SnapshotPolicy(
                settings.snapshot_interval, settings.snapshot_keep_recent, settings.snapshot_chunk_size
            ),
            chain_id=genesis_chain_id(home),
            simulate_gas_limit=settings.simulate_gas_limit,
            store_limits=settings.store_limits(),
        )
    )
    genesis = home / "config" / "genesis.json"
    if app.store.last_version == 0 and genesis.exists():  # InitChain is to come: check what it will read
        try:
            load_genesis(genesis)
        except GenesisError as exc:
            app.close()
            raise StartError(
                f"{exc}\nfix the genesis and start again (`taskmaster validate-genesis --home {home}` "
                "checks it)"
            ) from exc
    if print_blocks:
        app.on_commit = lambda height, app_hash: print(
            f"committed height {height} app_hash {app_hash.hex()[:16]}", flush=True
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    metrics = NodeMetrics()
    OracleLiveness(app).register(metrics.registry)  # this validator's oracle standing (docs/metrics.md)
    TasksMetrics(app).register(metrics.registry)  # fee pools and low bonds (docs/metrics.md)
    abci_server = AbciServer(app, observer=metrics.observe)
    grpc_server: grpc.aio.Server | None = None
    stop_metrics: Callable[[], None] | None = None
    stop_rest: Callable[[], Awaitable[None]] | None = None
    app_json = home / "config" / "app.json"
    try:
        what, address = "ABCI", settings.abci_address
        await abci_server.start(address)
        what, address = "gRPC", settings.grpc_address
        comet_rpc = comet_rpc_of_home(home)  # the SDK's tendermint and consensus services read it
        if comet_rpc is not None:
            app.router.queries.update({route.path: route for route in comet_routes(comet_rpc)})
        abci_query = abci_query_route(app.query)
        app.router.queries[abci_query.path] = abci_query
        grpc_server, _ = build_server(app, address, _cometbft_rpc(home))
        await grpc_server.start()
        if settings.api_address:
            what, address = "REST", settings.api_address
            stop_rest, _ = await start_rest(app, address)
        if settings.metrics_address:
            what, address = "metrics", settings.metrics_address
            stop_metrics = metrics.serve(address)
    except (OSError, RuntimeError, ValueError) as exc:
        if grpc_server is not None:
            await grpc_server.stop(grace=None)
        if stop_rest is not None:
            await stop_rest()
        with contextlib.suppress(Exception):
            await abci_server.stop()
        app.close()
        setting = {
            "ABCI": "abci_address",
            "gRPC": "grpc_address",
            "metrics": "metrics_address",
            "REST": "api_address",
        }[what]
        raise ListenError(
            f"cannot serve {what} on {address}: {str(exc).rstrip('.')}; is another node running? "
            f"Change {setting} in {app_json}"
            + (f' (or set it to "" to turn {what} off)' if what in ("metrics", "REST") else "")
        ) from exc
    where = f", metrics on http://{settings.metrics_address}/metrics" if settings.metrics_address else ""
    where += f", REST on http://{settings.api_address}" if settings.api_address else ""
    print(
        f"taskmaster app at height {app.store.last_version}: ABCI on {settings.abci_address}, "
        f"gRPC on {settings.grpc_address}{where}",
        flush=True,
    )
    cleanup: Callable[[], Awaitable[None]] | None = None
    if simulate_prices and not config_path(home).exists():
        oracle_service: OracleService | None
        oracle_service, cleanup = await _dev_simulator(app, home)
    else:
        oracle_service = OracleService.from_home(app, home)
    metrics.oracle = oracle_service
    oracle_task = asyncio.ensure_future(oracle_service.run(stop)) if oracle_service is not None else None
    supervisor = asyncio.ensure_future(_supervise_cometbft(home, settings, stop)) if with_cometbft else None
    if supervisor is not None:
        supervisor.add_done_callback(lambda _: stop.set())  # no node without its CometBFT
    exit_code = 0
    try:
        await stop.wait()
    finally:
        print("shutting down", flush=True)
        for name, task in (("cometbft supervisor", supervisor), ("price feed", oracle_task)):
            if task is None:
                continue
            try:
                if await task is False:
                    exit_code = 1
            except Exception:
                log.exception("%s failed", name)
                exit_code = 1
        if cleanup is not None:
            await cleanup()
        await grpc_server.stop(grace=2)
        if stop_rest is not None:
            await stop_rest()
        if stop_metrics is not None:
            stop_metrics()
        with contextlib.suppress(Exception):
            await abci_server.stop()
        app.close()
    return exit_code
