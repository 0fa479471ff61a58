"""The same fuzzed run in separate processes: hash seed, int digit limit and cache size must not matter.

``PYTHONHASHSEED`` can only differ between processes, so ``python -m tests.fuzz.runner`` runs each
configuration in its own interpreter and prints a SHA-256 per ABCI answer; the outputs must be equal.
One configuration also keeps no signature in any cache and empties the process-wide caches before
every step.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIGURATIONS = [
    {"PYTHONHASHSEED": "0", "PYTHONINTMAXSTRDIGITS": "640"},
    {"PYTHONHASHSEED": "4242", "PYTHONINTMAXSTRDIGITS": "0", "cache": "0"},
    {"PYTHONHASHSEED": "random", "PYTHONINTMAXSTRDIGITS": "100000"},
]


def _run(seed: int, steps: int, configuration: dict[str, str]) -> list[str]:
    env = {**os.environ, **{k: v for k, v in configuration.items() if k.startswith("PYTHON")}}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "gen"), env.get("PYTHONPATH", "")])
    command = [sys.executable, "-m", "tests.fuzz.runner", str(seed), str(steps)]
    if "cache" in configuration:
        command += ["--cache-capacity", configuration["cache"], "--cold"]
    out = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.splitlines()


@pytest.mark.parametrize("seed", [1, 77])
def test_a_fuzzed_run_hashes_the_same_under_every_hash_seed_and_digit_limit(seed: int) -> None:
    runs = [_run(seed, 250, c) for c in CONFIGURATIONS]
    assert runs[0][-1] == "invariants ok after 250 steps"
    assert len(runs[0]) > 250
    for configuration, other in zip(CONFIGURATIONS[1:], runs[1:], strict=True):
        first_difference = (
            next((a, b) for a, b in zip(runs[0], other, strict=False) if a != b) if other != runs[0] else None
        )
        assert other == runs[0], f"{configuration} diverged from {CONFIGURATIONS[0]} at {first_difference}"
