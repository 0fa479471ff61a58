"""The page flags every list query command takes, and how its answer's ``next_key`` is shown.

``--limit`` (0: the node's default, 100; at most 1000), ``--page-key`` (the ``next_key`` a previous
answer printed, base64 as protobuf JSON prints bytes), ``--offset`` (instead of ``--page-key``),
``--count-total`` and ``--reverse`` fill the request's ``cosmos.base.query.v1beta1.PageRequest``. The
answer always shows ``pagination.next_key``: empty when the list is complete.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import re
from typing import Any

from cosmos.base.query.v1beta1 import pagination_pb2
from google.protobuf.message import Message

from abci_app.cli_support import CliError, emit, msg_dict, query

_UINT64 = re.compile(r"[0-9]{1,20}")  # bounded before int(): no interpreter digit limit


def _uint64(text: str) -> int:
    if not _UINT64.fullmatch(text) or int(text) >= 2**64:
        raise argparse.ArgumentTypeError(f"{text[:30]!r} must be a whole number from 0 to {2**64 - 1}")
    return int(text)


def add_page_flags(parser: argparse.ArgumentParser) -> None:
    """Add the page flags (limit, page key, offset, count total, reverse) to a list command."""
    group = parser.add_argument_group("pages", "one page per call; pass the printed next_key as --page-key")
    group.add_argument("--limit", type=_uint64, default=0, help="items per page (0: 100; at most 1000)")
    group.add_argument("--page-key", default="", help="next_key of the previous page (base64)")
    group.add_argument("--offset", type=_uint64, default=0, help="skip this many items (instead of a key)")
    group.add_argument("--count-total", action="store_true", help="also count every item (without a key)")
    group.add_argument("--reverse", action="store_true", help="from the last item down")


def page_request(args: argparse.Namespace) -> pagination_pb2.PageRequest:
    """The PageRequest the page flags describe; CliError for a key that is not base64 or key with offset."""
    try:
        key = base64.b64decode(args.page_key, validate=True)
    except binascii.Error as exc:
        raise CliError(
            f"--page-key {args.page_key[:40]!r} is not base64; pass a next_key as printed"
        ) from exc
    if key and args.offset:
        raise CliError("give --page-key or --offset, not both")
    return pagination_pb2.PageRequest(
        key=key, offset=args.offset, limit=args.limit, count_total=args.count_total, reverse=args.reverse
    )


def page_dict(response: Message) -> dict[str, Any]:
    """The response as protobuf JSON, with ``pagination.next_key`` always present ("" at the end)."""
    data = msg_dict(response)
    data.setdefault("pagination", {}).setdefault("next_key", "")
    return data


def show_page(
    args: argparse.Namespace, service: str, method: str, request: Any, response_type: type[Message]
) -> None:
    """Ask for one page (the request's ``pagination`` from the flags) and print it with its next_key."""
    request.pagination.CopyFrom(page_request(args))
    emit(args, page_dict(query(args, service, method, request, response_type)))
