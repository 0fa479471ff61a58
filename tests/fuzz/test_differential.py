"""Fuzzed steps against two apps that differ in cache state and ``int_max_str_digits``.

Each example is a fresh pair at genesis and a run of steps drawn by hypothesis (CheckTx, Query,
VerifyVoteExtension, ExtendVote, and blocks through PrepareProposal, ProcessProposal, FinalizeBlock
and Commit with simulated vote extensions and mutated injections). Properties, checked at every step:

- no ABCI method raises (calls go through the socket server's handler table, answers serialize);
- every answer is byte-identical between the apps, and a read-only request answered twice by the
  cold app gets the same answer;
- no exception is caught inside the app either (a guarded method, a block step, a message handler);
- every module invariant holds after every block, in both apps.

``tests/fuzz/test_processes.py`` repeats runs across processes with different ``PYTHONHASHSEED``.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.differential import contained_crashes, pair
from tests.fuzz.world import Block, CheckTx


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32 - 1), st.integers(20, 80))
def test_two_apps_answer_every_fuzzed_step_identically(seed: int, steps: int) -> None:
    """A failure reproduces with ``python -m tests.fuzz.differential SEED 1 STEPS``."""
    with contained_crashes() as crashes, pair(seed) as apps:
        for _ in range(steps):
            apps.run_step()
            assert crashes.records == [], crashes.records


def test_a_long_seeded_run_reaches_blocks_tasks_and_the_oracle() -> None:
    """One longer deterministic run; it must also have exercised the deep paths the fuzzer aims at."""
    with contained_crashes() as crashes, pair(20240611) as apps:
        for _ in range(400):
            apps.run_step()
        assert crashes.records == [], crashes.records
        kinds = {type(s).__name__ for s in apps.steps}
        assert kinds == {"CheckTx", "Query", "VerifyExtension", "ExtendVote", "Block"}
        assert apps.warm.store.last_version > 50
        assert apps.generator.task_hashes, "no task was ever scheduled"
        assert apps.restarts > 0
        assert any(isinstance(s, Block) and s.finalize == "raw" and s.txs for s in apps.steps)
        assert sum(isinstance(s, CheckTx) for s in apps.steps) > 80
