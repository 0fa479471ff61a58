"""The JSON form of a module's genesis state, as ``taskmaster export`` writes it.

Proto field names (snake_case, the names genesis/app_state.schema.json and the genesis templates use),
zero and empty fields included: leaving them out would make :func:`abci_app.modules.parse_genesis`
fill them with defaults on import, so a param set to 0 would not survive an export and re-import.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message


def genesis_json(genesis: Message) -> dict[str, Any]:
    """``genesis`` as a JSON object with proto field names and every field present."""
    return json_format.MessageToDict(
        genesis, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
