"""The node database owns the key layout: what a version's writes, a rollback and a pruning put on disk."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from rocksdict import Options, Rdict

from abci_app.store import MultiStore
from abci_app.store.nodedb import NodeDB, node_db_key, orphan_db_key, store_prefix, version_db_key
from abci_app.store.tree import MutableTree

NAMES = ["bank", "tasks"]
BANK = store_prefix("bank")

# sha256 over every (key, value) of the database after _history(); recorded before nodedb.py took over
# the writes from multistore.py, so it pins the on-disk format byte for byte
HISTORY_DIGEST = "f0612c1edebea9b2ed45a94fbaed579b981c28379f3a7159b7c4ac69d922ccfa"


@pytest.fixture
def ndb(tmp_path: Path) -> Iterator[NodeDB]:
    db = NodeDB.open(str(tmp_path / "db"), NAMES, sync=False)
    yield db
    db.close()


def _save(ndb: NodeDB, version: int, prev: int, trees: dict[str, MutableTree]) -> None:
    batch = ndb.batch()
    for name, tree in trees.items():
        tree.hash()
        ndb.save_tree(batch, name, tree, prev)
    ndb.save_version(batch, version, b"info%d" % version, {b"h": bytes([version])})
    ndb.write(batch)


def _tree(ndb: NodeDB, root: MutableTree | None, version: int) -> MutableTree:
    return MutableTree(None if root is None else root.root, version, ndb.loader("bank"))


def _root_nk(tree: MutableTree) -> bytes:
    assert tree.root is not None and tree.root.nk is not None
    return tree.root.nk


def _keys(ndb: NodeDB) -> list[bytes]:
    return [k for k, _ in ndb.db.items() if isinstance(k, bytes)]


def test_a_version_writes_its_nodes_post_order_its_commit_info_latest_and_meta(ndb: NodeDB) -> None:
    tree = _tree(ndb, None, 1)
    tree.set(b"a", b"1")
    tree.set(b"b", b"2")
    _save(ndb, 1, 0, {"bank": tree})
    nk = [(1).to_bytes(8, "big") + n.to_bytes(4, "big") for n in (1, 2, 3)]
    assert _keys(ndb) == [b"F", b"L", b"Mh", version_db_key(1), *(node_db_key(BANK, k) for k in nk)]
    assert (ndb.latest_version(), ndb.versions(), ndb.commit_info(1)) == (1, [1], b"info1")
    assert ndb.get_meta(b"h") == b"\x01"
    assert tree.root is not None and tree.root.nk == nk[2]  # the root comes last
    assert ndb.get("bank", nk[0]).value == b"1"


def test_replaced_nodes_get_orphan_records_up_to_the_previous_version(ndb: NodeDB) -> None:
    first = _tree(ndb, None, 1)
    first.set(b"a", b"1")
    _save(ndb, 1, 0, {"bank": first})
    second = _tree(ndb, first, 3)
    second.set(b"a", b"2")
    _save(ndb, 3, 1, {"bank": second})
    leaf = (1).to_bytes(8, "big") + (1).to_bytes(4, "big")
    assert orphan_db_key(BANK, 1, leaf) in _keys(ndb)
    assert (ndb.node_count(), ndb.orphan_count()) == (2, 1)


def test_deleting_a_version_hands_nodes_alive_before_it_to_the_previous_kept_version(ndb: NodeDB) -> None:
    trees = {1: _tree(ndb, None, 1)}
    trees[1].set(b"a", b"1")
    _save(ndb, 1, 0, {"bank": trees[1]})
    for v in (2, 3):
        trees[v] = _tree(ndb, trees[v - 1], v)
        trees[v].set(b"a", b"%d" % v)
        _save(ndb, v, v - 1, {"bank": trees[v]})
    # version 1's leaf is orphaned at 1; version 2's at 2. Delete version 2, keeping 1 and 3.
    batch = ndb.batch()
    ndb.delete_version(batch, 2, prev_kept=1)
    ndb.write(batch)
    assert ndb.versions() == [1, 3]
    assert ndb.stored_node_keys() == {node_db_key(BANK, _root_nk(trees[v])) for v in (1, 3)}
    # then version 1, with nothing kept before it: its leaf goes, and no orphan record stays
    batch = ndb.batch()
    ndb.delete_version(batch, 1, prev_kept=None)
    ndb.write(batch)
    assert (ndb.versions(), ndb.node_count(), ndb.orphan_count()) == ([3], 1, 0)


def test_deleting_versions_above_restores_the_older_versions_records(ndb: NodeDB) -> None:
    first = _tree(ndb, None, 1)
    first.set(b"a", b"1")
    _save(ndb, 1, 0, {"bank": first})
    before = _keys(ndb)
    second = _tree(ndb, first, 2)
    second.set(b"a", b"2")
    second.set(b"b", b"3")
    _save(ndb, 2, 1, {"bank": second})
    batch = ndb.batch()
    ndb.delete_versions_above(batch, 1)
    ndb.write(batch)
    assert [k for k in _keys(ndb) if k != b"L"] == [k for k in before if k != b"L"]
    assert ndb.latest_version() == 1 and ndb.get_meta(b"h") == b"\x02"  # metadata is not versioned


def _history(path: str) -> None:
    rng = random.Random(11)
    ms = MultiStore.open(path, NAMES, sync=False)
    for step in range(30):
        b = ms.branch()
        for _ in range(rng.randint(0, 40)):
            name, key = rng.choice(NAMES), rng.randrange(200).to_bytes(2, "big")
            if rng.random() < 0.3:
                b.store(name).delete(key)
            else:
                b.store(name).set(key, rng.randbytes(rng.randint(0, 6)))
        ms.stage(b, ms.last_version + rng.randint(1, 2))
        ms.commit({b"step": bytes([step])})
        if step % 7 == 6:
            ms.prune(2, 3)
        elif step % 11 == 10:
            ms.rollback(ms.versions()[-2])
    ms.close()


def test_the_on_disk_format_is_unchanged(tmp_path: Path) -> None:
    path = str(tmp_path / "db")
    _history(path)
    db = Rdict(path, options=Options(raw_mode=True))
    digest = hashlib.sha256()
    for key, value in db.items():
        assert isinstance(key, bytes) and isinstance(value, bytes)
        digest.update(len(key).to_bytes(4, "big") + key + len(value).to_bytes(4, "big") + value)
    db.close()
    assert digest.hexdigest() == HISTORY_DIGEST
