"""Error codes of the ``wasm`` codespace: upload refusals and the ways an execution fails."""

from abci_app.errors import register

CODESPACE = "wasm"

INVALID_MODULE = register(CODESPACE, 2, "invalid wasm module")
UNKNOWN_CODE = register(CODESPACE, 3, "unknown code id")
TRAP = register(CODESPACE, 4, "wasm trap")
OUT_OF_FUEL = register(CODESPACE, 5, "out of fuel")
BAD_POINTER = register(CODESPACE, 6, "bad pointer")
HOST_ARGUMENT = register(CODESPACE, 7, "invalid host call argument")
MODULE_FAILED = register(CODESPACE, 8, "module returned failure")
ALLOWANCE_EXCEEDED = register(CODESPACE, 9, "send allowance exceeded")
RESOURCE_LIMIT = register(CODESPACE, 10, "resource limit")
INVALID_PARAMS = register(CODESPACE, 11, "invalid wasm params")
INVALID_CODE_ID = register(CODESPACE, 12, "invalid code id")
NOT_COMPILED = register(CODESPACE, 13, "not compiled on this node")
