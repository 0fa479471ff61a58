"""The ABCI socket transport: uvarint framing, the per-connection server, and the application interface.

``AbciServer(app).start("tcp://127.0.0.1:26658")`` serves any :class:`AbciApplication` (subclass
:class:`BaseApplication` for defaults) to a CometBFT v0.38 node.
"""

from abci_app.abci.application import AbciApplication, BaseApplication
from abci_app.abci.framing import (
    MAX_MESSAGE_SIZE,
    FrameDecoder,
    FramingError,
    MalformedVarintError,
    MessageTooLargeError,
    encode_frame,
)
from abci_app.abci.server import AbciServer, parse_address

__all__ = [
    "MAX_MESSAGE_SIZE",
    "AbciApplication",
    "AbciServer",
    "BaseApplication",
    "FrameDecoder",
    "FramingError",
    "MalformedVarintError",
    "MessageTooLargeError",
    "encode_frame",
    "parse_address",
]
