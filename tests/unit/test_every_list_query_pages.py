"""Every list query of every module takes the Cosmos SDK's PageRequest and answers its PageResponse.

A query route whose answer repeats records it reads from the store must page (issue 20: unpaged lists
let one Validators answer reach 5.7 MB). The only repeated answers left unpaged are those that answer
one item per name in the request, which the request itself bounds.
"""

from __future__ import annotations

from cosmos.base.query.v1beta1 import pagination_pb2

from abci_app.router import Router, default_modules

BOUNDED_BY_THE_REQUEST = {  # one answer per task hash named, at most MAX_REQUEST_HASHES (tasks/queries.py)
    "/taskmaster.tasks.v1.Query/GetNextExecutionBlocks",
    "/taskmaster.tasks.v1.Query/GetNextBlocksForTasks",
    # the chain's fixed module accounts (auth/sdk_queries.py MODULE_ACCOUNTS); the SDK's takes no page
    "/cosmos.auth.v1beta1.Query/ModuleAccounts",
}


def _repeats(descriptor: object) -> bool:
    return any(f.is_repeated for f in descriptor.fields)  # type: ignore[attr-defined]


def test_every_query_answering_a_list_takes_a_page_request_and_answers_a_page_response() -> None:
    unpaged = []
    for path, route in Router(default_modules()).queries.items():
        if not _repeats(route.response_type.DESCRIPTOR) or path in BOUNDED_BY_THE_REQUEST:
            continue
        asked = route.request_type.DESCRIPTOR.fields_by_name.get("pagination")
        answered = route.response_type.DESCRIPTOR.fields_by_name.get("pagination")
        if (
            asked is None
            or answered is None
            or asked.message_type is not pagination_pb2.PageRequest.DESCRIPTOR
            or answered.message_type is not pagination_pb2.PageResponse.DESCRIPTOR
        ):
            unpaged.append(path)
    assert unpaged == []


def test_the_page_messages_are_the_cosmos_sdks() -> None:
    request = pagination_pb2.PageRequest.DESCRIPTOR
    assert request.full_name == "cosmos.base.query.v1beta1.PageRequest"
    assert [(f.name, f.number) for f in request.fields] == [
        ("key", 1),
        ("offset", 2),
        ("limit", 3),
        ("count_total", 4),
        ("reverse", 5),
    ]
    response = pagination_pb2.PageResponse.DESCRIPTOR
    assert [(f.name, f.number) for f in response.fields] == [("next_key", 1), ("total", 2)]
