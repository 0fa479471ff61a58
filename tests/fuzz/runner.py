"""``python -m tests.fuzz.runner SEED STEPS [--cache-capacity N]``: one fuzzed run, one hash per answer.

Prints ``<step> <kind> <sha256 of the answer's deterministic bytes>`` for every ABCI answer, then
``invariants ok``; exits non-zero if the app caught an exception anywhere (a contained crash).
The process-level tests run it under different ``PYTHONHASHSEED`` and ``PYTHONINTMAXSTRDIGITS``
settings (and signature cache sizes) and require identical output.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
import tempfile

from abci_app.modules.oracle import codec, injection
from abci_app.tx import address
from abci_app.tx.ante import SignatureCache
from tests.fuzz.differential import contained_crashes
from tests.fuzz.world import Generator, World, drive


def clear_global_caches() -> None:
    """Empty every process-wide cache of the app (memoized decoders, addresses, extension signatures)."""
    codec.clear_decodes()
    address.to_bech32.cache_clear()
    address._parse_bech32.cache_clear()
    injection._SIGNATURES = SignatureCache(capacity=0)


def run(seed: int, steps: int, cache_capacity: int | None, out: list[str], cold: bool = False) -> None:
    """Run ``steps`` generated steps from ``seed`` on a fresh app; append one line per answer to ``out``.

    ``cold`` empties the process-wide caches before every step (they must not change an answer).
    """
    world = World()
    with tempfile.TemporaryDirectory() as tmp:
        app = world.open_app(f"{tmp}/db", cache_capacity)
        try:
            generator = Generator(random.Random(seed), app, world)
            for index in range(steps):
                step = generator.step()
                if cold:
                    clear_global_caches()
                for answer in drive(app, world, step):
                    out.append(f"{index} {type(step).__name__} {hashlib.sha256(answer).hexdigest()}")
                generator.after(step)
        finally:
            app.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("seed", type=int)
    parser.add_argument("steps", type=int)
    parser.add_argument("--cold", action="store_true", help="empty the process-wide caches before every step")
    parser.add_argument(
        "--cache-capacity", type=int, default=None, help="SignatureCache size (default: the app's)"
    )
    parser.add_argument(
        "--int-max-str-digits", type=int, default=None, help="sys.set_int_max_str_digits first"
    )
    args = parser.parse_args()
    if args.int_max_str_digits is not None:
        sys.set_int_max_str_digits(args.int_max_str_digits)
    lines: list[str] = []
    with contained_crashes() as crashes:  # also silences the app's log of every rejected input
        run(args.seed, args.steps, args.cache_capacity, lines, cold=args.cold)
    print("\n".join(lines))
    if crashes.records:
        print("\n".join(crashes.records), file=sys.stderr)
        sys.exit(f"{len(crashes.records)} exceptions were caught inside the app (contained crashes)")
    print(f"invariants ok after {args.steps} steps")


if __name__ == "__main__":
    main()
