"""Store keys of the ``auth`` store.

``0x01 | address(20)``  -> Account (protobuf)
``0x02``                -> next account number (u64 big-endian)
``0x03``                -> Params (protobuf)
"""

ACCOUNT_PREFIX = b"\x01"
NEXT_ACCOUNT_NUMBER = b"\x02"
PARAMS = b"\x03"
STORE = "auth"


def account_key(address: bytes) -> bytes:
    """Key of the account record of a 20-byte address."""
    return ACCOUNT_PREFIX + address
