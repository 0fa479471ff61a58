"""Store keys of the ``staking`` store.

``0x01 | operator address(20)``   -> Validator (protobuf)
``0x02 | consensus address(20)``  -> operator address (20 bytes)
``0x03``                          -> Params (protobuf)
``0x04 | operator address(20)``   -> empty: the validator's power changed this block (pending update)
"""

STORE = "staking"
VALIDATOR_PREFIX = b"\x01"
BY_CONSENSUS_PREFIX = b"\x02"
PARAMS = b"\x03"
PENDING_PREFIX = b"\x04"


def validator_key(operator: bytes) -> bytes:
    """Key of a validator record."""
    return VALIDATOR_PREFIX + operator


def by_consensus_key(consensus_address: bytes) -> bytes:
    """Key of the consensus-address index."""
    return BY_CONSENSUS_PREFIX + consensus_address


def pending_key(operator: bytes) -> bytes:
    """Key marking a pending validator update."""
    return PENDING_PREFIX + operator
