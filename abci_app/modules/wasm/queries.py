"""Query service ``taskmaster.wasm.v1.Query``: one code's info, the codes of an account, params.

Bounds: CodesByUploader answers at most :data:`MAX_LIST_RESULTS` codes per page (``limit`` 0 means
that; a larger one is QUERY_INVALID) and pages with ``after`` / ``next_after``.
"""

from __future__ import annotations

from taskmaster.wasm.v1 import wasm_pb2

from abci_app.context import Context
from abci_app.errors import AppError
from abci_app.modules import QUERY_INVALID, QUERY_NOT_FOUND, QueryRoute
from abci_app.modules.wasm import keeper
from abci_app.tx.address import from_bech32

SERVICE = "taskmaster.wasm.v1.Query"
MAX_LIST_RESULTS = 1_000


def _code_id(text: str) -> bytes:
    try:
        return keeper.parse_code_id(text)
    except AppError as err:
        raise QUERY_INVALID(err.message) from None


def query_code(ctx: Context, req: wasm_pb2.QueryCodeRequest) -> wasm_pb2.QueryCodeResponse:
    """The CodeInfo of one code id; NOT_FOUND when it was never stored."""
    info = keeper.code_info(ctx, _code_id(req.code_id))
    if info is None:
        raise QUERY_NOT_FOUND(f"no code {req.code_id}")
    return wasm_pb2.QueryCodeResponse(info=info)


def query_codes_by_uploader(
    ctx: Context, req: wasm_pb2.QueryCodesByUploaderRequest
) -> wasm_pb2.QueryCodesByUploaderResponse:
    """One page of the codes an account stored, in code id order."""
    if req.limit > MAX_LIST_RESULTS:
        raise QUERY_INVALID(f"limit {req.limit} is above the maximum {MAX_LIST_RESULTS}; page with after")
    size = req.limit or MAX_LIST_RESULTS
    after = _code_id(req.after) if req.after else b""
    ids = keeper.codes_of(ctx, from_bech32(req.uploader, "uploader"), size + 1, after)
    page = ids[:size]
    infos = [keeper.code_info(ctx, code_id) for code_id in page]
    return wasm_pb2.QueryCodesByUploaderResponse(
        codes=[i for i in infos if i is not None], next_after=page[-1].hex() if len(ids) > size else ""
    )


def query_params(ctx: Context, req: wasm_pb2.QueryParamsRequest) -> wasm_pb2.QueryParamsResponse:
    """The module params."""
    return wasm_pb2.QueryParamsResponse(params=keeper.get_params(ctx))


ROUTES = (
    QueryRoute(SERVICE, "Code", wasm_pb2.QueryCodeRequest, wasm_pb2.QueryCodeResponse, query_code),
    QueryRoute(
        SERVICE,
        "CodesByUploader",
        wasm_pb2.QueryCodesByUploaderRequest,
        wasm_pb2.QueryCodesByUploaderResponse,
        query_codes_by_uploader,
    ),
    QueryRoute(SERVICE, "Params", wasm_pb2.QueryParamsRequest, wasm_pb2.QueryParamsResponse, query_params),
)
