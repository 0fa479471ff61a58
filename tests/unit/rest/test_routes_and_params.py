"""The REST route table (generated from the protos' annotations) and grpc-gateway's parameter rules.

The expected behaviour is grpc-gateway's, quoted from its sources (grpc-ecosystem/grpc-gateway v2):

runtime/errors.go, HTTPStatusFromCode ("converts a gRPC error code into the corresponding HTTP
response status", "See: https://github.com/googleapis/googleapis/blob/master/google/rpc/code.proto"):
    case codes.InvalidArgument: return http.StatusBadRequest
    case codes.DeadlineExceeded: return http.StatusGatewayTimeout
    case codes.NotFound: return http.StatusNotFound
    case codes.ResourceExhausted: return http.StatusTooManyRequests
    case codes.FailedPrecondition:
        // Note, this deliberately doesn't translate to the similarly named '412 Precondition Failed'
        return http.StatusBadRequest
    case codes.Unimplemented: return http.StatusNotImplemented
    case codes.Unavailable: return http.StatusServiceUnavailable
and its DefaultHTTPErrorHandler writes "a Status message marshaled by the Marshaler"
({"code", "message", "details"}).

runtime/query.go, DefaultQueryParser.Parse: `fieldPath := strings.Split(key, ".")`; a key matching
`^(.*)\\[(.*)\\]$` is a map entry; "We're not returning an error here because this could just be an
extra query parameter that isn't part of the request"; "Only singular message fields are allowed"
on the way; `too many values for field %q` for a singular field given twice; repeated fields
append every value; `strconv.ParseInt(value, 10, 64)` etc. for integers; runtime.Bytes for bytes
(base64.StdEncoding, then base64.URLEncoding).
"""

from __future__ import annotations

import base64
import contextlib
import functools

import pytest
from cosmos.bank.v1beta1 import query_pb2 as bank_q
from cosmos.base.query.v1beta1 import pagination_pb2
from google.protobuf import descriptor_pool
from hypothesis import given, settings
from hypothesis import strategies as st
from taskmaster.tasks.v1 import query_pb2 as tasks_q

from abci_app.modules.cosmos_node.services import abci_query_route
from abci_app.modules.cosmos_node.services import routes as comet_routes
from abci_app.rest.params import ParamError, populate
from abci_app.rest.routes import RouteError, RouteTable, http_rule, parse_template
from abci_app.rest.server import HTTP_STATUS
from abci_app.router import default_router


def _all_queries() -> list:  # type: ignore[type-arg]
    queries = dict(default_router().queries)
    queries.update({r.path: r for r in comet_routes(None)})  # type: ignore[arg-type]
    route = abci_query_route(lambda _: None)  # type: ignore[arg-type,return-value]
    queries[route.path] = route
    return list(queries.values())


@functools.cache
def _table() -> RouteTable:
    return RouteTable.build(_all_queries())


def test_every_query_rpc_of_every_registered_service_has_an_http_annotation() -> None:
    missing = [q.path for q in _all_queries() if http_rule(q) is None]
    assert missing == []


def test_every_rpc_of_our_query_services_is_annotated_in_the_protos() -> None:
    """Not only the rpcs a module wires: every rpc the taskmaster Query services declare."""
    from google.api import annotations_pb2  # type: ignore[import-untyped]

    pool = descriptor_pool.Default()
    services = {q.service for q in _all_queries() if q.service.startswith("taskmaster.")}
    assert len(services) >= 8
    for name in services:
        for method in pool.FindServiceByName(name).methods:
            assert method.GetOptions().HasExtension(annotations_pb2.http), method.full_name


def test_the_table_holds_one_route_per_rpc_and_templates_are_unique_but_the_sdks_bech32_pair() -> None:
    table = RouteTable.build(_all_queries())
    assert len(table.routes) == len(_all_queries())
    served = table.served()
    shadowed = {r.query.path for r in table.routes} - {r.query.path for r in served}
    # the SDK annotates both with /cosmos/auth/v1beta1/bech32/{...}: the later one answers
    assert shadowed == {"/cosmos.auth.v1beta1.Query/AddressBytesToString"}


def test_a_literal_segment_beats_a_variable() -> None:
    table = RouteTable.build(_all_queries())
    route, values = table.match("GET", "/cosmos/base/tendermint/v1beta1/blocks/latest")
    assert route is not None and route.query.method == "GetLatestBlock" and values == {}
    route, values = table.match("GET", "/cosmos/base/tendermint/v1beta1/blocks/12")
    assert route is not None and route.query.method == "GetBlockByHeight" and values == {"height": "12"}


def test_path_variables_are_percent_decoded_per_segment_and_double_star_takes_the_rest() -> None:
    table = RouteTable.build(_all_queries())
    route, values = table.match("GET", "/taskmaster/oracle/v1/prices/bitcoin/usd")
    assert route is not None and route.query.method == "Price" and values == {"pair": "bitcoin/usd"}
    route, values = table.match("GET", "/taskmaster/kv/v1/entries/task1x/a%2Fb%3D")
    assert route is not None and values == {"owner": "task1x", "key": "a/b="}


def test_unknown_paths_are_not_found_and_other_methods_are_not_allowed() -> None:
    table = RouteTable.build(_all_queries())
    assert table.match("GET", "/cosmos/nothing") == (None, [])
    assert table.match("DELETE", "/cosmos/staking/v1beta1/validators") == (None, ["GET"])
    assert table.match("GET", "/taskmaster/tasks/v1/tasks/") == (None, [])  # an empty variable


@pytest.mark.parametrize(
    "template",
    ["no/slash", "/a/{b=c/*}", "/a/{b=**}/c", "/a/*", "/a/{}", "/a:verb", "/a/{b.}"],
)
def test_templates_outside_the_supported_subset_are_refused(template: str) -> None:
    with pytest.raises(RouteError):
        parse_template(template)


def test_error_statuses_are_grpc_gateways() -> None:
    assert HTTP_STATUS[5] == 404 and HTTP_STATUS[3] == 400 and HTTP_STATUS[12] == 501
    assert (
        HTTP_STATUS[9] == 400 and HTTP_STATUS[4] == 504 and HTTP_STATUS[14] == 503 and HTTP_STATUS[8] == 429
    )


def test_nested_fields_with_dots_and_base64_pagination_keys() -> None:
    msg = bank_q.QueryAllBalancesRequest()
    key = base64.b64encode(b"\x00\xffnext").decode()
    populate(
        msg,
        {"address": "task1abc"},
        [("pagination.key", key), ("pagination.limit", "7"), ("pagination.countTotal", "true"), ("zzz", "1")],
    )
    assert msg.address == "task1abc"
    assert msg.pagination == pagination_pb2.PageRequest(key=b"\x00\xffnext", limit=7, count_total=True)


def test_url_safe_base64_is_accepted_as_grpc_gateway_does() -> None:
    msg = bank_q.QueryAllBalancesRequest()
    populate(msg, {}, [("pagination.key", base64.urlsafe_b64encode(b"\xfb\xff").decode())])
    assert msg.pagination.key == b"\xfb\xff"


def test_repeated_params_append_in_order() -> None:
    msg = tasks_q.QueryGetNextBlocksForTasksRequest()
    populate(msg, {}, [("task_hashes", "a"), ("task_hashes", "b"), ("task_hashes", "c")])
    assert list(msg.task_hashes) == ["a", "b", "c"]


def test_a_path_bound_field_is_not_overridden_by_the_query() -> None:
    msg = bank_q.QueryAllBalancesRequest()
    populate(msg, {"address": "from-path"}, [("address", "from-query")])
    assert msg.address == "from-path"


def test_a_message_is_present_once_a_parameter_names_a_field_of_it() -> None:
    msg = bank_q.QueryAllBalancesRequest()
    populate(msg, {}, [("pagination.offset", "0")])
    assert msg.HasField("pagination")


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ([("pagination.limit", "1"), ("pagination.limit", "2")], "too many values"),
        ([("pagination.limit", "-1")], "unsigned"),
        ([("pagination.limit", "18446744073709551616")], "out of range"),
        ([("pagination.limit", "9" * 5000)], "integer"),
        ([("pagination.count_total", "yes")], "boolean"),
        ([("pagination.key", "not base64!")], "base64"),
        ([("pagination.key.x", "1")], "not a message"),
    ],
)
def test_bad_params_are_param_errors_naming_the_field(params: list[tuple[str, str]], says: str) -> None:
    with pytest.raises(ParamError, match=says):
        populate(bank_q.QueryAllBalancesRequest(), {}, params)


def test_the_number_of_query_params_is_bounded() -> None:
    with pytest.raises(ParamError, match="at most"):
        populate(bank_q.QueryAllBalancesRequest(), {}, [(f"x{i}", "1") for i in range(300)])


_TEXT = st.text(alphabet=st.characters(), max_size=60)
_NAMES = st.sampled_from(
    [
        *("pagination.key", "pagination.limit", "pagination.offset", "pagination.count_total"),
        *("pagination.reverse", "address", "pagination", "pagination.key.x", "a[b]", "pagination[k]"),
        *("task_hashes", "start", "x.y.z"),
    ]
)


@settings(max_examples=400, deadline=None)
@given(
    path=st.dictionaries(st.sampled_from(["address", "height", "task_hash"]), _TEXT, max_size=2),
    query=st.lists(st.tuples(st.one_of(_NAMES, _TEXT), _TEXT), max_size=8),
)
def test_arbitrary_strings_never_raise_anything_but_a_param_error(
    path: dict[str, str], query: list[tuple[str, str]]
) -> None:
    for request_type in (bank_q.QueryAllBalancesRequest, tasks_q.QueryGetTasksInRangeRequest):
        with contextlib.suppress(ParamError):  # anything else fails the test
            populate(request_type(), dict(path), query)


@settings(max_examples=300, deadline=None)
@given(path=st.text(alphabet=st.characters(), max_size=120))
def test_arbitrary_paths_match_or_not_without_raising(path: str) -> None:
    route, found = _table().match("GET", "/" + path)
    assert route is None or isinstance(found, dict)


@settings(max_examples=300, deadline=None)
@given(
    index=st.integers(min_value=0, max_value=10_000),
    raw_query=st.text(alphabet=st.characters(), max_size=200),
    segments=st.lists(st.text(alphabet=st.characters(), max_size=20), max_size=3),
)
def test_any_query_string_into_any_routes_request_is_set_or_a_param_error(
    index: int, raw_query: str, segments: list[str]
) -> None:
    """The gateway's whole parse: the raw query string as it splits it, into every route's request."""
    import urllib.parse

    route = _table().routes[index % len(_table().routes)]
    values = {name: (segments[i] if i < len(segments) else "x") for i, name in enumerate(route.path_fields)}
    query = urllib.parse.parse_qsl(raw_query, keep_blank_values=True, errors="replace")
    with contextlib.suppress(ParamError):
        populate(route.query.request_type(), values, query, body=route.body)


def test_docs_list_every_taskmaster_route() -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[3] / "docs" / "rest.md").read_text()
    missing = [
        f"{r.http_method} {r.template}"
        for r in _table().served()
        if r.query.service.startswith("taskmaster.") and f"`{r.http_method} {r.template}" not in text
    ]
    assert missing == []
