"""The disk cache of compiled modules: file format, atomic 0600 writes, refusals of bad files, and the
runtime reading it instead of compiling."""

from __future__ import annotations

import hashlib
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from wasmtime import Module, WasmtimeError

from abci_app.app import AppConfig, Application
from abci_app.modules.wasm import artifacts, runtime
from abci_app.modules.wasm.artifacts import ArtifactDir
from tests.unit.wasm.wasm_sandbox import Sandbox, example, sandbox

CODE = b"\x11" * 32


@pytest.fixture
def cache_root(tmp_path: Path) -> Iterator[Path]:
    """The runtime keeps compiled modules under a fresh directory; memory-only again afterwards."""
    root = tmp_path / "wasm-cache"
    runtime.clear_cache()
    runtime.use_artifact_dir(root)
    yield root
    runtime.use_artifact_dir(None)
    runtime.clear_cache()


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Sandbox]:
    with sandbox(tmp_path) as s:
        yield s


class NoCompiling:
    """Stands in for wasmtime's Module: deserializing works, compiling fails the test."""

    deserialize = staticmethod(Module.deserialize)

    def __init__(self, *args: object) -> None:
        raise AssertionError("compiled although a compiled artifact was cached")


def the_file(root: Path, code_id: bytes) -> Path:
    files = list(root.glob(f"*/{code_id.hex()}{artifacts.SUFFIX}"))
    assert len(files) == 1, files
    return files[0]


def test_an_artifact_reads_back_only_for_its_code_id_whole_and_unchanged() -> None:
    content = artifacts.encode(CODE, b"compiled")
    assert artifacts.decode(CODE, content) == b"compiled"
    assert artifacts.decode(b"\x22" * 32, content) is None  # a file renamed to another code id
    assert artifacts.decode(CODE, content[:-1]) is None  # truncated
    assert artifacts.decode(CODE, content[:-1] + b"X") is None  # a flipped byte
    assert artifacts.decode(CODE, b"other" + content[5:]) is None  # not our format
    assert artifacts.decode(CODE, b"") is None


def test_an_artifact_is_written_with_owner_only_permissions_and_no_temporary_left(tmp_path: Path) -> None:
    cache = ArtifactDir.under(tmp_path, "f" * 16)
    cache.store(CODE, b"compiled")
    assert cache.load(CODE) == b"compiled"
    assert stat.S_IMODE(cache.file(CODE).stat().st_mode) == 0o600
    assert stat.S_IMODE(cache.path.stat().st_mode) == 0o700
    assert [p.name for p in cache.path.iterdir()] == [cache.file(CODE).name]


def test_a_cache_that_cannot_be_written_is_only_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "blocked").write_text("a file where the directory should be")
    cache = ArtifactDir.under(tmp_path / "blocked", "f" * 16)
    cache.store(CODE, b"compiled")
    assert cache.load(CODE) is None
    assert "cannot write compiled wasm" in caplog.text


def test_the_engine_fingerprint_changes_with_any_setting() -> None:
    settings = runtime.ENGINE_SETTINGS
    assert artifacts.engine_fingerprint(settings) == artifacts.engine_fingerprint(settings)
    changed = tuple((name, 0 if name == "memory_guard_size" else value) for name, value in settings)
    assert changed == settings  # memory_guard_size is 0 already: change another one
    other = tuple((name, 2 << 20 if name == "max_wasm_stack" else value) for name, value in settings)
    assert artifacts.engine_fingerprint(other) != artifacts.engine_fingerprint(settings)


def test_a_module_compiled_once_runs_after_a_restart_from_disk_without_compiling(
    cache_root: Path, box: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    wasm = example("counter")
    code_id = hashlib.sha256(wasm).digest()
    first = box.run(wasm, keep=False)  # compiled at this first execution and written to disk
    assert the_file(cache_root, code_id).is_file()
    runtime.clear_cache()  # a restart: nothing in memory
    monkeypatch.setattr(runtime, "Module", NoCompiling)
    assert box.run(wasm, keep=False).key() == first.key()


def test_an_upload_compiles_and_writes_the_artifact_unless_speculative(cache_root: Path) -> None:
    wasm = example("limit_order")
    code_id = hashlib.sha256(wasm).digest()
    runtime.compile_upload(code_id, wasm, persist=False)  # CheckTx: memory only
    assert runtime.cached(code_id) and not list(cache_root.glob("*/*"))
    runtime.compile_upload(code_id, wasm)  # the same upload in a block: from memory, to disk
    assert the_file(cache_root, code_id).is_file()


def test_a_corrupt_artifact_is_compiled_again_and_rewritten(
    cache_root: Path, box: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    wasm = example("counter")
    code_id = hashlib.sha256(wasm).digest()
    first = box.run(wasm, keep=False)
    path = the_file(cache_root, code_id)
    good = path.read_bytes()
    path.write_bytes(good[:-100] + bytes(100))
    runtime.clear_cache()
    assert box.run(wasm, keep=False).key() == first.key()
    assert "corrupt" in caplog.text and path.read_bytes() == good


def test_an_artifact_another_engine_wrote_is_compiled_again(
    cache_root: Path, box: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    wasm = example("counter")
    code_id = hashlib.sha256(wasm).digest()
    first = box.run(wasm, keep=False)
    path = the_file(cache_root, code_id)
    path.write_bytes(artifacts.encode(code_id, b"not something wasmtime serialized"))
    runtime.clear_cache()
    assert box.run(wasm, keep=False).key() == first.key()
    assert "does not load" in caplog.text
    assert artifacts.decode(code_id, path.read_bytes()) != b"not something wasmtime serialized"


def test_the_memory_cache_keeps_to_its_byte_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    runtime.clear_cache()
    wasms = [example(name) for name in ("counter", "limit_order", "recurring_buy")]
    for wasm in wasms:
        runtime.compile_upload(hashlib.sha256(wasm).digest(), wasm, persist=False)
    assert all(runtime.cached(hashlib.sha256(w).digest()) for w in wasms)
    monkeypatch.setattr(runtime, "CACHE_BYTES", 1)  # every module is over it: only the newest stays
    extra = example("infinite_loop")
    runtime.compile_upload(hashlib.sha256(extra).digest(), extra, persist=False)
    assert [runtime.cached(hashlib.sha256(w).digest()) for w in [*wasms, extra]] == [False] * 3 + [True]
    runtime.clear_cache()


def test_a_node_with_a_data_dir_keeps_compiled_modules_in_its_wasm_cache(tmp_path: Path) -> None:
    app = Application(AppConfig(db_path=str(tmp_path / "app.db"), data_dir=str(tmp_path / "data")))
    try:
        wasm = example("counter")
        runtime.clear_cache()
        runtime.compile_upload(hashlib.sha256(wasm).digest(), wasm)
        assert the_file(tmp_path / "data" / "wasm-cache", hashlib.sha256(wasm).digest()).is_file()
    finally:
        app.close()
        runtime.use_artifact_dir(None)
        runtime.clear_cache()


def test_a_module_that_cannot_be_serialized_is_still_uploaded_and_run(
    cache_root: Path, box: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(self: Module) -> bytearray:
        raise WasmtimeError("cannot serialize")

    monkeypatch.setattr(Module, "serialize", refuse)
    wasm = example("counter")
    runtime.compile_upload(hashlib.sha256(wasm).digest(), wasm)
    assert box.run(wasm, keep=False).ok
    assert not list(cache_root.glob("*/*"))


def test_an_unreadable_artifact_is_compiled_again(cache_root: Path, box: Sandbox) -> None:
    wasm = example("counter")
    code_id = hashlib.sha256(wasm).digest()
    first = box.run(wasm, keep=False)
    path = the_file(cache_root, code_id)
    path.unlink()
    path.mkdir()  # reading it fails with an OSError, writing it too: both only logged
    runtime.clear_cache()
    assert box.run(wasm, keep=False).key() == first.key()
