"""Store keys of the ``staking`` store (integers big-endian, so keys sort like the numbers).

``0x01 | operator(20)``                      -> Validator (protobuf)
``0x02 | consensus address(20)``             -> operator address (20 bytes)
``0x03``                                     -> Params (protobuf)
``0x04 | operator(20)``                      -> empty: the validator changed this block (set recomputed)
``0x05 | delegator(20) | operator(20)``      -> Delegation (protobuf)
``0x06 | operator(20) | delegator(20)``      -> empty: index of a validator's delegations
``0x07 | completion height(8) | id(8)``      -> UnbondingEntry (protobuf): the unbonding queue
``0x08 | delegator(20) | id(8)``             -> completion height (8): index of a delegator's entries
``0x09 | operator(20)``                      -> power (8): the active set as CometBFT has it
``0x0a | 2^63-1-power(8) | operator(20)``    -> empty: candidates (unjailed, power > 0), highest first
``0x0b``                                     -> next unbonding entry id (8)
"""

STORE = "staking"
VALIDATOR_PREFIX = b"\x01"
BY_CONSENSUS_PREFIX = b"\x02"
PARAMS = b"\x03"
PENDING_PREFIX = b"\x04"
DELEGATION_PREFIX = b"\x05"
BY_VALIDATOR_PREFIX = b"\x06"
UNBONDING_QUEUE_PREFIX = b"\x07"
UNBONDING_BY_DELEGATOR_PREFIX = b"\x08"
LAST_POWER_PREFIX = b"\x09"
POWER_INDEX_PREFIX = b"\x0a"
NEXT_UNBONDING_ID = b"\x0b"

MAX_INT64 = 2**63 - 1


def validator_key(operator: bytes) -> bytes:
    """Key of a validator record."""
    return VALIDATOR_PREFIX + operator


def by_consensus_key(consensus_address: bytes) -> bytes:
    """Key of the consensus-address index."""
    return BY_CONSENSUS_PREFIX + consensus_address


def pending_key(operator: bytes) -> bytes:
    """Key marking a validator changed this block."""
    return PENDING_PREFIX + operator


def delegation_key(delegator: bytes, operator: bytes) -> bytes:
    """Key of one delegation."""
    return DELEGATION_PREFIX + delegator + operator


def by_validator_key(operator: bytes, delegator: bytes) -> bytes:
    """Key of the index entry of one delegation under its validator."""
    return BY_VALIDATOR_PREFIX + operator + delegator


def unbonding_queue_key(completion_height: int, entry_id: int) -> bytes:
    """Key of an unbonding entry in the queue (ordered by completion height, then id)."""
    return UNBONDING_QUEUE_PREFIX + completion_height.to_bytes(8, "big") + entry_id.to_bytes(8, "big")


def unbonding_by_delegator_key(delegator: bytes, entry_id: int) -> bytes:
    """Key of the index entry of an unbonding entry under its delegator."""
    return UNBONDING_BY_DELEGATOR_PREFIX + delegator + entry_id.to_bytes(8, "big")


def last_power_key(operator: bytes) -> bytes:
    """Key of an active-set member's power as last sent to CometBFT."""
    return LAST_POWER_PREFIX + operator


def power_index_key(power: int, operator: bytes) -> bytes:
    """Key of a candidate in the power index: higher power first, then lower operator address."""
    return POWER_INDEX_PREFIX + (MAX_INT64 - power).to_bytes(8, "big") + operator
