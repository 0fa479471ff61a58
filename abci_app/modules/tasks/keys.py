"""Store keys of the ``tasks`` store (prefix byte + fields; integers big-endian so they sort).

``0x01 | task_hash(32)``                               -> TaskInfo (protobuf, deterministic)
``0x02 | due_block(u64) | priority(1) | task_hash(32)`` -> b"" (the due-block index; priority 0 = large,
                                                         1 = medium, 2 = small)
``0x03 | owner(20) | task_hash(32)``                    -> b"" (tasks by owner)
``0x04 | owner(20)``                                    -> task nonce (u64)
``0x05 | task_hash(32) | canceller(20)``                -> b"" (task cancellers)
``0x06 | owner(20) | len(env)(1) | env | canceller(20)`` -> b"" (environment cancellers)
``0x07``                                               -> Params (protobuf)
``0x08 | len(pair) u8 | pair | direction(1) | threshold(u256) | task_hash(32)`` -> b"" (price triggers)
``0x09 | expiry_block(u64) | task_hash(32)``            -> b"" (triggers by expiry block)
``0x0A | arm_block(u64) | task_hash(32)``               -> the task's 0x08 key (triggers waiting for the
                                                         block from which they can fire)
``0x0B | task_hash(32) | sequence(u64)``                -> TaskRun (the run history: a task's last
                                                         ``params.run_history_size`` executions, oldest
                                                         first; docs/tasks.md, "Run history")

An active triggered task without a due entry is in exactly one of 0x08 (its arm block has come) and
0x0A (it has not); the tasks end-block moves the 0x0A entries of its height into 0x08 before looking
for crossings, so a crossing reads only triggers that can fire (docs/tasks.md, "Price triggers").
"""

from __future__ import annotations

from abci_app.scheduler import DueIndex

STORE = "tasks"
TASK_PREFIX = b"\x01"
DUE_PREFIX = b"\x02"
OWNER_PREFIX = b"\x03"
NONCE_PREFIX = b"\x04"
CANCELLER_PREFIX = b"\x05"
ENV_CANCELLER_PREFIX = b"\x06"
PARAMS_KEY = b"\x07"
TRIGGER_PREFIX = b"\x08"
EXPIRY_PREFIX = b"\x09"
WAITING_PREFIX = b"\x0a"
RUN_PREFIX = b"\x0b"

DUE = DueIndex(DUE_PREFIX)


def task_key(task_hash: bytes) -> bytes:
    """Key of one task record."""
    return TASK_PREFIX + task_hash


def owner_key(owner: bytes, task_hash: bytes) -> bytes:
    """Key of one entry of the owner index."""
    return OWNER_PREFIX + owner + task_hash


def nonce_key(owner: bytes) -> bytes:
    """Key of an account's task nonce."""
    return NONCE_PREFIX + owner


def canceller_key(task_hash: bytes, canceller: bytes) -> bytes:
    """Key of one task canceller."""
    return CANCELLER_PREFIX + task_hash + canceller


def env_canceller_prefix(owner: bytes, environment: str) -> bytes:
    """Prefix of the cancellers ``owner`` authorized for one environment."""
    env = environment.encode()
    return ENV_CANCELLER_PREFIX + owner + bytes((len(env),)) + env


def env_canceller_key(owner: bytes, environment: str, canceller: bytes) -> bytes:
    """Key of one environment canceller."""
    return env_canceller_prefix(owner, environment) + canceller


def trigger_prefix(pair: str, direction: int) -> bytes:
    """Prefix of the triggers of one pair and direction (length-prefixed: no pair prefixes another)."""
    raw = pair.encode()
    return TRIGGER_PREFIX + bytes((len(raw),)) + raw + bytes((direction,))


def trigger_key(pair: str, direction: int, threshold: int, task_hash: bytes) -> bytes:
    """Key of one trigger; thresholds are 32-byte big-endian, so a threshold range is a key range."""
    return trigger_prefix(pair, direction) + threshold.to_bytes(32, "big") + task_hash


def expiry_key(block: int, task_hash: bytes) -> bytes:
    """Key of one trigger's expiry entry."""
    return EXPIRY_PREFIX + block.to_bytes(8, "big") + task_hash


def waiting_key(arm_block: int, task_hash: bytes) -> bytes:
    """Key of one trigger that waits for its arm block (start block or end of cooldown)."""
    return WAITING_PREFIX + arm_block.to_bytes(8, "big") + task_hash


def run_prefix(task_hash: bytes) -> bytes:
    """Prefix of one task's run history."""
    return RUN_PREFIX + task_hash


def run_key(task_hash: bytes, sequence: int) -> bytes:
    """Key of one kept run; sequences are big-endian, so the history iterates oldest first."""
    return RUN_PREFIX + task_hash + sequence.to_bytes(8, "big")
