"""Model test: random set / delete / commit / reopen / rollback / prune against a dict mirror.

After every step, every retained version equals its mirror (get of every key of the key space,
iteration both ways over the whole store and a window, size), and the stored nodes are exactly those
reachable from the retained versions (so after pruning all but the latest no stray node remains).
"""

from __future__ import annotations

import random
import shutil
import tempfile

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from abci_app.store import MultiStore

NAMES = ["bank", "tasks"]
KEYS = [bytes([a]) for a in range(0, 48, 3)] + [bytes([a, b]) for a in (1, 7, 30) for b in (0, 5, 255)]
Mirror = dict[str, dict[bytes, bytes]]

keys = st.sampled_from(KEYS)
values = st.binary(min_size=0, max_size=6)
stores = st.sampled_from(NAMES)


class StoreModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.mkdtemp(prefix="store-model-")
        self.ms = MultiStore.open(self.dir, NAMES, sync=False)
        self.committed: dict[int, Mirror] = {}
        self._fresh_branch()

    def _fresh_branch(self) -> None:
        self.branch = self.ms.branch()
        latest = self.committed.get(self.ms.last_version, {n: {} for n in NAMES})
        self.pending: Mirror = {n: dict(kv) for n, kv in latest.items()}

    @rule(store=stores, key=keys, value=values)
    def set(self, store: str, key: bytes, value: bytes) -> None:
        self.branch.store(store).set(key, value)
        self.pending[store][key] = value

    @rule(store=stores, key=keys)
    def delete(self, store: str, key: bytes) -> None:
        self.branch.store(store).delete(key)
        self.pending[store].pop(key, None)

    @rule(store=stores, key=keys, value=values, keep=st.booleans())
    def nested_tx(self, store: str, key: bytes, value: bytes, keep: bool) -> None:
        tx = self.branch.branch()
        tx.store(store).set(key, value)
        if keep:
            tx.write()
            self.pending[store][key] = value
        else:
            tx.discard()

    @rule(gap=st.integers(1, 3), restage=st.booleans())
    def commit(self, gap: int, restage: bool) -> None:
        version = self.ms.last_version + gap
        if restage:  # a FinalizeBlock re-run: an earlier stage of other writes is discarded
            other = self.ms.branch()
            other.store("bank").set(b"\x99", b"discarded")
            self.ms.stage(other, version)
        app_hash = self.ms.stage(self.branch, version)
        assert self.ms.commit().app_hash == app_hash
        self.committed[version] = self.pending
        self._fresh_branch()

    @rule()
    def reopen(self) -> None:
        self.ms.close()
        self.ms = MultiStore.open(self.dir, NAMES, sync=False)
        self._fresh_branch()

    @rule(store=stores, key=keys, value=values)
    def reopen_then_commit(self, store: str, key: bytes, value: bytes) -> None:
        """Commit on a freshly opened store, whose nodes are still on disk only (lazy loading)."""
        self.reopen()
        self.set(store, key, value)
        self.commit(1, False)

    @precondition(lambda self: len(self.committed) > 1)
    @rule(data=st.data())
    def rollback(self, data: st.DataObject) -> None:
        target = data.draw(st.sampled_from(sorted(self.committed)))
        self.ms.rollback(target)
        self.committed = {v: m for v, m in self.committed.items() if v <= target}
        self._fresh_branch()
        self._check_nodes()

    @rule(keep_recent=st.integers(1, 4), keep_every=st.sampled_from([0, 2, 3]))
    def prune(self, keep_recent: int, keep_every: int) -> None:
        deleted = self.ms.prune(keep_recent, keep_every)
        for v in deleted:
            del self.committed[v]
        latest = self.ms.last_version
        for v in self.committed:
            assert v == latest or v > latest - keep_recent or (keep_every and v % keep_every == 0)
        self._check_nodes()

    def _check_nodes(self) -> None:
        reachable: set[bytes] = set()
        for v in self.ms.versions():
            reachable |= self.ms.reachable_node_keys(v)
        assert self.ms.stored_node_keys() == reachable
        if len(self.ms.versions()) <= 1:
            assert self.ms.orphan_count() == 0

    @invariant()
    def retained_versions_match_their_mirrors(self) -> None:
        assert self.ms.versions() == sorted(self.committed)
        for version, mirror in self.committed.items():
            view = self.ms.branch(version)
            for name in NAMES:
                expected = sorted(mirror[name].items())
                kv = view.store(name)
                assert list(kv.iterate()) == expected
                assert list(kv.iterate(reverse=True)) == expected[::-1]
                window = [(k, v) for k, v in expected if b"\x07" <= k < b"\x1e"]
                assert list(kv.iterate(b"\x07", b"\x1e")) == window
                assert list(kv.iterate(b"\x07", b"\x1e", reverse=True)) == window[::-1]
                for key in KEYS:
                    assert kv.get(key) == mirror[name].get(key)
                root = view.base.roots[name][0]
                assert (0 if root is None else root.size) == len(expected)

    def teardown(self) -> None:
        self.ms.close()
        shutil.rmtree(self.dir, ignore_errors=True)


TestStoreModel = StoreModel.TestCase
TestStoreModel.settings = settings(
    max_examples=150,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def test_many_seeds_of_larger_random_histories() -> None:
    """Deeper trees than the hypothesis machine reaches: 30 seeds x 25 versions of up to 300 keys."""
    for seed in range(30):
        rng = random.Random(seed)
        d = tempfile.mkdtemp(prefix="store-seed-")
        try:
            _run_seed(rng, d)
        finally:
            shutil.rmtree(d, ignore_errors=True)


def _run_seed(rng: random.Random, d: str) -> None:
    ms = MultiStore.open(d, NAMES, sync=False)
    mirrors: dict[int, Mirror] = {}
    current: Mirror = {n: {} for n in NAMES}
    for _ in range(25):
        b = ms.branch()
        for _ in range(rng.randint(0, 60)):
            name = rng.choice(NAMES)
            key = rng.randrange(300).to_bytes(2, "big")
            if rng.random() < 0.3:
                b.store(name).delete(key)
                current[name].pop(key, None)
            else:
                value = rng.randbytes(rng.randint(0, 8))
                b.store(name).set(key, value)
                current[name][key] = value
        ms.stage(b, ms.last_version + 1)
        ms.commit()
        mirrors[ms.last_version] = {n: dict(kv) for n, kv in current.items()}
        roll = rng.random()
        if roll < 0.15:
            ms.close()
            ms = MultiStore.open(d, NAMES, sync=False)
            continue  # next commit runs on nodes not yet loaded from disk; checked after it
        elif roll < 0.25:
            for v in ms.prune(rng.randint(1, 5), rng.choice([0, 4])):
                del mirrors[v]
        elif roll < 0.3 and len(mirrors) > 1:
            target = rng.choice(sorted(mirrors)[:-1])
            ms.rollback(target)
            mirrors = {v: m for v, m in mirrors.items() if v <= target}
            current = {n: dict(kv) for n, kv in mirrors[target].items()}
        for version, mirror in mirrors.items():
            view = ms.branch(version)
            for name in NAMES:
                expected = sorted(mirror[name].items())
                assert list(view.store(name).iterate()) == expected, (version, name)
                assert list(view.store(name).iterate(reverse=True)) == expected[::-1]
    ms.prune(1)
    assert ms.stored_node_keys() == ms.reachable_node_keys()
    assert ms.orphan_count() == 0
    ms.close()
