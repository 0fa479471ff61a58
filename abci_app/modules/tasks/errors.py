"""Error codes of the ``tasks`` codespace: one per rule, so clients can match on the code."""

from abci_app.errors import register

CODESPACE = "tasks"

INVALID_GAS = register(CODESPACE, 2, "invalid task gas")
START_NOT_IN_FUTURE = register(CODESPACE, 3, "start block not in the future")
INTERVAL_TOO_SHORT = register(CODESPACE, 4, "interval too short")
ZERO_EXECUTIONS = register(CODESPACE, 5, "zero executions")
WRONG_NONCE = register(CODESPACE, 6, "wrong task nonce")
FROM_NOT_SIGNER = register(CODESPACE, 7, "task owner is not the signer")
UNKNOWN_TARGET = register(CODESPACE, 8, "unknown target")
UNKNOWN_ENVIRONMENT = register(CODESPACE, 9, "unknown execution environment")
UNDECODABLE_DATA = register(CODESPACE, 10, "undecodable task data")
TASK_FIELDS_CHANGED = register(CODESPACE, 11, "task fields changed")
UNAUTHORIZED_CANCEL = register(CODESPACE, 12, "unauthorized cancel")
UNKNOWN_TASK = register(CODESPACE, 13, "unknown task hash")
INSUFFICIENT_BOND_BALANCE = register(CODESPACE, 14, "insufficient balance for bond")
TARGET_SIGNER_MISMATCH = register(CODESPACE, 15, "target message not signed by the task owner")
TASK_NOT_ACTIVE = register(CODESPACE, 16, "task not active")
TASK_NOT_DUE = register(CODESPACE, 17, "task not due")
TASK_FINISHED = register(CODESPACE, 18, "task completed or cancelled")
NOT_RUNNING_TASK = register(CODESPACE, 19, "reschedule outside the running task")
INVALID_RESCHEDULE = register(CODESPACE, 20, "invalid reschedule")
INVALID_AMOUNT = register(CODESPACE, 21, "invalid amount")
INVALID_GAS_PRICE = register(CODESPACE, 22, "invalid gas price")
NOT_OWNER = register(CODESPACE, 23, "not the task owner")
MISSING_DEFINITION = register(CODESPACE, 24, "missing task definition")
INVALID_CANCELLER = register(CODESPACE, 25, "invalid canceller")
INSUFFICIENT_BOND = register(CODESPACE, 26, "bond does not cover an execution")
INVALID_TASK_HASH = register(CODESPACE, 27, "invalid task hash")
NON_CANONICAL_DATA = register(CODESPACE, 28, "non-canonical task data")
DATA_TOO_LARGE = register(CODESPACE, 29, "task data too large")
