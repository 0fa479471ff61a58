"""Store keys of the ``bank`` store.

``0x01 | address(20) | denom`` -> balance (u256 big-endian); absent means zero
``0x02 | denom``               -> total supply (u256 big-endian)
"""

STORE = "bank"
BALANCE_PREFIX = b"\x01"
SUPPLY_PREFIX = b"\x02"


def balance_key(address: bytes, denom: str) -> bytes:
    """Key of one balance."""
    return BALANCE_PREFIX + address + denom.encode()


def supply_key(denom: str) -> bytes:
    """Key of one denom's total supply."""
    return SUPPLY_PREFIX + denom.encode()
