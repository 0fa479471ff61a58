"""Store keys of the ``wasm`` store (prefix byte + fields).

``0x01 | code_id(32)``                 -> the module's bytes
``0x02 | code_id(32)``                 -> CodeInfo (protobuf, deterministic)
``0x03 | account(20) | code_id(32)``   -> b"" (codes an account stored)
``0x04``                               -> Params (protobuf)
"""

from __future__ import annotations

STORE = "wasm"
CODE_PREFIX = b"\x01"
INFO_PREFIX = b"\x02"
UPLOADER_PREFIX = b"\x03"
PARAMS_KEY = b"\x04"


def code_key(code_id: bytes) -> bytes:
    """Key of a module's bytes."""
    return CODE_PREFIX + code_id


def info_key(code_id: bytes) -> bytes:
    """Key of a module's CodeInfo."""
    return INFO_PREFIX + code_id


def uploader_key(account: bytes, code_id: bytes) -> bytes:
    """Key of one entry of the codes-by-uploader index."""
    return UPLOADER_PREFIX + account + code_id
