"""The wasm module record: MsgStoreCode, its queries and genesis; tasks run its code (tasks/execution.py)."""

from pathlib import Path

from abci_app.modules import Module
from abci_app.modules.wasm import genesis, msgs, queries, runtime
from abci_app.modules.wasm.keys import STORE


def use_data_dir(data_dir: Path) -> None:
    """Keep compiled modules in ``<data dir>/wasm-cache`` (runtime.py, artifacts.py)."""
    runtime.use_artifact_dir(data_dir / "wasm-cache")


MODULE = Module(
    name="wasm",
    store=STORE,
    msgs=msgs.ROUTES,
    queries=queries.ROUTES,
    init_genesis=genesis.init_genesis,
    export_genesis=genesis.export_genesis,
    use_data_dir=use_data_dir,
)
