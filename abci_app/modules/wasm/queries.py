"""Query service ``taskmaster.wasm.v1.Query``: one code's info, the codes of an account, params.

Bounds: CodesByUploader answers one page (``abci_app/modules/pagination.py``: default 100, at most
1000 codes, key-based ``next_key``) in code id order.
"""

from __future__ import annotations

from taskmaster.wasm.v1 import wasm_pb2

from abci_app.context import Context
from abci_app.errors import AppError
from abci_app.modules import QUERY_INVALID, QUERY_NOT_FOUND, QueryRoute
from abci_app.modules.pagination import paginate
from abci_app.modules.wasm import keeper
from abci_app.modules.wasm.keys import STORE, UPLOADER_PREFIX
from abci_app.tx.address import from_bech32

SERVICE = "taskmaster.wasm.v1.Query"


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
    prefix = UPLOADER_PREFIX + from_bech32(req.uploader, "uploader")
    page = paginate(ctx.store(STORE), req.pagination, prefix)
    infos = [keeper.code_info(ctx, key[len(prefix) :]) for key in page.keys]
    return wasm_pb2.QueryCodesByUploaderResponse(
        codes=[i for i in infos if i is not None], pagination=page.response
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
