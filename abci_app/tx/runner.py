"""Running one tx: decode, ante on a branch, messages on a nested branch, one result.

Effects follow the Cosmos SDK's rules: a tx whose ante checks fail changes nothing; a tx whose messages
fail (error, panic or out of gas) keeps only its fee and sequence; a successful tx keeps everything.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass

from cosmos.base.abci.v1beta1 import abci_pb2
from tendermint.abci import types_pb2 as abci

from abci_app.context import Context
from abci_app.errors import INTERNAL, INVALID_REQUEST, TX_TOO_LARGE, AppError
from abci_app.modules.auth import keeper as auth
from abci_app.router import Router
from abci_app.tx.address import to_bech32
from abci_app.tx.ante import SignatureCache, run_ante
from abci_app.tx.codec import decode_tx
from abci_app.tx.gas import GasMeter

log = logging.getLogger("abci_app.tx")


@dataclass(frozen=True)
class TxOutcome:
    """Result of one tx, convertible into an ExecTxResult or a ResponseCheckTx."""

    code: int = 0
    codespace: str = ""
    log: str = ""
    data: bytes = b""
    gas_wanted: int = 0
    gas_used: int = 0
    events: tuple[abci.Event, ...] = ()
    ante_passed: bool = False

    def exec_result(self) -> abci.ExecTxResult:
        """As a FinalizeBlock tx result."""
        return abci.ExecTxResult(
            code=self.code,
            codespace=self.codespace,
            log=self.log,
            data=self.data,
            gas_wanted=self.gas_wanted,
            gas_used=self.gas_used,
            events=list(self.events),
        )

    def check_result(self) -> abci.ResponseCheckTx:
        """As a CheckTx response."""
        return abci.ResponseCheckTx(
            code=self.code,
            codespace=self.codespace,
            log=self.log,
            gas_wanted=self.gas_wanted,
            gas_used=self.gas_used,
            events=list(self.events),
        )


def _failure(err: AppError, meter: GasMeter, events: list[abci.Event], ante_passed: bool) -> TxOutcome:
    used = meter.consumed if meter.limit is None else min(meter.consumed, meter.limit)
    return TxOutcome(
        code=err.code,
        codespace=err.codespace,
        log=err.log,
        gas_wanted=meter.limit or 0,
        gas_used=used,
        events=tuple(events),
        ante_passed=ante_passed,
    )


def _module_of(url: str) -> str:
    """The module a message type belongs to: ``bank`` of ``/cosmos.bank.v1beta1.MsgSend``."""
    parts = url.split(".")
    return parts[1] if len(parts) >= 3 else ""


def _index_events(events: list[abci.Event], first: int, index: int) -> None:
    """As the SDK's baseapp (``createEvents``): message ``index``'s events (its ``message`` event, then
    its handler's: ``events[first:]``) each get a ``msg_index`` attribute."""
    text = str(index)
    for i in range(first, len(events)):
        events[i].attributes.add(key="msg_index", value=text, index=True)


def _after_success(ctx: Context, tx_hash: bytes) -> None:
    """Run ``ctx``'s on-success actions: node-local (a cache), so a failing one changes no result."""
    for action in ctx.on_success:
        try:
            action()
        except Exception:
            log.exception("an on-success action of tx %s raised; ignored (node-local)", tx_hash.hex())


def _oversized(block: Context, raw: bytes) -> TxOutcome | None:
    """TX_TOO_LARGE for a tx over auth ``max_tx_bytes``, found before any decoding; else None."""
    limit = auth.get_params(block).max_tx_bytes
    if len(raw) <= limit:
        return None
    return _failure(TX_TOO_LARGE(f"tx is {len(raw)} bytes; the limit is {limit}"), GasMeter(None), [], False)


def run_check_tx(block: Context, raw: bytes, router: Router, sigs: SignatureCache) -> TxOutcome:
    """What CheckTx runs: the size limit first (auth ``max_tx_bytes``, before any decoding), then
    :func:`execute_tx` without the messages, keeping fee and sequence on ``block``'s branch.

    Every step costs a small bound whatever ``raw`` holds: decoding and hashing at most
    ``max_tx_bytes``, one signature verification, a few store reads and writes (docs/security.md).
    """
    return _oversized(block, raw) or execute_tx(block, raw, router, sigs, run_messages=False)


def run_simulation(
    block: Context, raw: bytes, router: Router, sigs: SignatureCache, gas_cap: int
) -> TxOutcome:
    """What ``/app/simulate`` runs, for free: the size limit, then :func:`execute_tx` with the messages
    and ``gas_cap`` (a tx asking for more gas is refused before its ante checks), keeping nothing of
    a tx whose messages fail. The caller throws ``block``'s branch away."""
    return _oversized(block, raw) or execute_tx(
        block, raw, router, sigs, keep_fee_on_failure=False, gas_cap=gas_cap, simulate=True
    )


def execute_tx(
    block: Context,
    raw: bytes,
    router: Router,
    sigs: SignatureCache,
    *,
    run_messages: bool = True,
    keep_fee_on_failure: bool = True,
    gas_cap: int | None = None,
    simulate: bool = False,
) -> TxOutcome:
    """Execute ``raw`` on top of ``block``'s branch and write its effects there.

    ``run_messages=False`` stops after the ante checks and keeps their effects, fee and sequence
    (CheckTx, proposal filtering). With ``keep_fee_on_failure=False`` a tx whose messages fail leaves
    nothing behind. ``gas_cap`` refuses, before the ante checks, a tx whose gas limit is above it
    (simulation: work nobody pays for stays within the cap). After a tx succeeds, its message
    context's ``on_success`` actions run (node-local caches; one that raises is logged and ignored).
    ``simulate`` (with ``gas_cap``): the signature, sign mode and minimum fee are not checked, and a
    gas limit of 0 (cosmjs and cosmpy simulate with an empty fee) runs with ``gas_cap``.
    """
    meter = GasMeter(None)
    try:
        dtx = decode_tx(raw, router.resolve, simulate=simulate)
    except AppError as err:
        return _failure(err, meter, [], False)
    except Exception as exc:  # a decoder bug rejects the tx, never the node
        log.exception("decoding a tx of %d bytes raised", len(raw))
        return _failure(INTERNAL(f"tx decoding failed: {type(exc).__name__}"), meter, [], False)
    gas_limit = dtx.gas_limit or (gas_cap if simulate and gas_cap is not None else 0)
    if gas_cap is not None and gas_limit > gas_cap:
        return _failure(
            INVALID_REQUEST(
                f"gas limit {gas_limit} is above the {gas_cap} gas this node simulates "
                "(a node setting); simulate with a gas limit of at most that, or send the tx, which pays "
                "for its gas"
            ),
            meter,
            [],
            False,
        )
    meter.limit = gas_limit
    tx_ctx = block.child(meter)
    try:
        signer = run_ante(tx_ctx, dtx, router.msgs, sigs, simulate=simulate)
    except AppError as err:
        tx_ctx.branch.discard()
        return _failure(err, meter, [], False)
    except Exception as exc:  # an ante bug rejects the tx (nothing written), never the node
        log.exception("ante checks raised on tx %s", dtx.hash.hex())
        tx_ctx.branch.discard()
        return _failure(INTERNAL(f"ante checks failed: {type(exc).__name__}"), meter, [], False)
    if not run_messages:
        tx_ctx.branch.write()
        return TxOutcome(gas_wanted=meter.limit, gas_used=meter.consumed, ante_passed=True)
    signer_text = to_bech32(signer)
    if tx_ctx.record_events:  # the SDK's ante events (x/auth/ante: fee.go, sigverify.go)
        tx_ctx.emit("tx", fee=f"{dtx.fee}utask" if dtx.fee else "", fee_payer=signer_text)
        tx_ctx.emit("tx", acc_seq=f"{signer_text}/{dtx.sequence}")
        tx_ctx.emit("tx", signature=base64.b64encode(dtx.signature).decode())
    msg_ctx = tx_ctx.child(meter)
    responses = abci_pb2.TxMsgData()
    try:
        for index, msg in enumerate(dtx.messages):
            url = "/" + msg.DESCRIPTOR.full_name
            first = len(msg_ctx.events)
            if msg_ctx.record_events:  # as the SDK's baseapp: the message event first
                msg_ctx.emit("message", action=url, sender=signer_text, module=_module_of(url))
            response = router.msgs[url].handler(msg_ctx, msg)
            responses.msg_responses.add().Pack(response, type_url_prefix="/")
            if msg_ctx.record_events:
                _index_events(msg_ctx.events, first, index)
    except AppError as err:
        msg_ctx.branch.discard()
        if keep_fee_on_failure:
            tx_ctx.branch.write()
        else:
            tx_ctx.branch.discard()
        return _failure(err, meter, tx_ctx.events, True)
    except Exception as exc:  # a handler bug fails the tx, never the node
        log.exception("message handler raised on tx %s", dtx.hash.hex())
        msg_ctx.branch.discard()
        if keep_fee_on_failure:
            tx_ctx.branch.write()
        else:
            tx_ctx.branch.discard()
        return _failure(INTERNAL(f"message handler failed: {type(exc).__name__}"), meter, tx_ctx.events, True)
    msg_ctx.branch.write()
    tx_ctx.branch.write()
    _after_success(msg_ctx, dtx.hash)
    return TxOutcome(
        data=responses.SerializeToString(deterministic=True),
        gas_wanted=meter.limit,
        gas_used=meter.consumed,
        events=tuple(tx_ctx.events + msg_ctx.events),
        ante_passed=True,
    )
