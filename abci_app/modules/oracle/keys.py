"""Store keys of the ``oracle`` store.

``0x01``                                   -> Params (protobuf)
``0x02 | pair``                            -> latest PriceRecord of a pair (protobuf)
``0x03 | len(pair) u8 | pair | u64 height`` -> PriceRecord history entry (bounded per pair)
``0x04 | consensus address(20)``           -> MissInfo (protobuf)
``0x05 | consensus address(20) | u64 bit``  -> b"" when the round at that ring position was missed
``0x06 | consensus address(20)``           -> JailRecord (protobuf), the latest for that validator
``0x07``                                   -> layout version marker written by migrations (u64)
"""

STORE = "oracle"
PARAMS = b"\x01"
LATEST_PREFIX = b"\x02"
HISTORY_PREFIX = b"\x03"
MISS_INFO_PREFIX = b"\x04"
MISS_BIT_PREFIX = b"\x05"
JAIL_PREFIX = b"\x06"
LAYOUT = b"\x07"


def latest_key(pair: str) -> bytes:
    """Key of a pair's latest price."""
    return LATEST_PREFIX + pair.encode()


def history_prefix(pair: str) -> bytes:
    """Prefix of a pair's history entries (length-prefixed so no pair is a prefix of another)."""
    raw = pair.encode()
    return HISTORY_PREFIX + bytes((len(raw),)) + raw


def history_key(pair: str, height: int) -> bytes:
    """Key of one history entry."""
    return history_prefix(pair) + height.to_bytes(8, "big")


def miss_info_key(consensus_address: bytes) -> bytes:
    """Key of a validator's miss counters."""
    return MISS_INFO_PREFIX + consensus_address


def miss_bit_key(consensus_address: bytes, position: int) -> bytes:
    """Key of one ring position of a validator's missed-rounds bitmap."""
    return MISS_BIT_PREFIX + consensus_address + position.to_bytes(8, "big")


def jail_key(consensus_address: bytes) -> bytes:
    """Key of a validator's jail record."""
    return JAIL_PREFIX + consensus_address
