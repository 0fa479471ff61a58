"""``taskmaster snapshots create|list|export|import`` on real homes: a snapshot packed into a file and
imported with ``--restore`` rebuilds an empty home to the same height and app hash; a tampered file or a
wrong trusted app hash is refused with a message and restores nothing."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
from tendermint.abci import types_pb2 as abci

from abci_app.app import AppConfig, Application
from abci_app.cli import main
from tests.app.driver import CHAIN_ID, Chain, address_of


def _home(path: Path) -> Path:
    (path / "config").mkdir(parents=True)
    (path / "data").mkdir()
    (path / "config" / "genesis.json").write_text(json.dumps({"chain_id": CHAIN_ID}))
    return path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> list[dict[str, object]]:
    main(list(argv))
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def _info(home: Path) -> tuple[int, bytes]:
    app = Application(AppConfig(db_path=str(home / "data" / "app.db")))
    try:
        info = app.info(abci.RequestInfo())
        return info.last_block_height, info.last_block_app_hash
    finally:
        app.close()


@pytest.fixture
def source(tmp_path: Path) -> Path:
    home = _home(tmp_path / "source")
    chain = Chain.start(str(home / "data" / "app.db"))
    bob = address_of(chain.accounts["user1"])
    for _ in range(5):
        chain.block([chain.send_tx("user0", bob, "1000")])
    chain.app.close()
    return home


def test_a_file_exported_from_one_home_restores_another(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    height, app_hash = _info(source)
    [made] = _run(capsys, "snapshots", "create", "--home", str(source))
    assert (made["height"], made["app_hash"]) == (height, app_hash.hex())
    assert [s["height"] for s in _run(capsys, "snapshots", "list", "--home", str(source))] == [height]
    file = tmp_path / "snap.tar"
    _run(
        capsys,
        "snapshots",
        "export",
        "--home",
        str(source),
        "--height",
        str(height),
        "--output-file",
        str(file),
    )
    target = _home(tmp_path / "target")
    [done] = _run(
        capsys,
        "snapshots",
        "import",
        str(file),
        "--home",
        str(target),
        "--restore",
        "--app-hash",
        app_hash.hex(),
    )
    assert done["restored"] is True
    assert _info(target) == (height, app_hash)


def test_a_wrong_trusted_hash_or_a_tampered_file_restores_nothing(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    height, app_hash = _info(source)
    _run(capsys, "snapshots", "create", "--home", str(source))
    file = tmp_path / "snap.tar"
    _run(
        capsys,
        "snapshots",
        "export",
        "--home",
        str(source),
        "--height",
        str(height),
        "--output-file",
        str(file),
    )
    target = _home(tmp_path / "target")
    with pytest.raises(SystemExit):
        main(["snapshots", "import", str(file), "--home", str(target), "--restore", "--app-hash", "00" * 32])
    assert "refused" in capsys.readouterr().err
    assert _info(target) == (0, b"")
    tampered = tmp_path / "tampered.tar"
    with tarfile.open(file) as src, tarfile.open(tampered, "w") as dst:
        for member in src:
            data = src.extractfile(member)
            assert data is not None
            raw = data.read()
            if member.name == "chunk-000000":
                raw = bytes([raw[0] ^ 1]) + raw[1:]
            member.size = len(raw)
            dst.addfile(member, io.BytesIO(raw))
    fresh = _home(tmp_path / "fresh")
    with pytest.raises(SystemExit):
        main(
            [
                "snapshots",
                "import",
                str(tampered),
                "--home",
                str(fresh),
                "--restore",
                "--app-hash",
                app_hash.hex(),
            ]
        )
    assert "chunk 0" in capsys.readouterr().err
    main(["snapshots", "list", "--home", str(fresh), "-o", "json"])
    assert json.loads(capsys.readouterr().out) == []
