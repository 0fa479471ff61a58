"""Account task listings are paged: every task is reachable, each exactly once, whatever the page size."""

from __future__ import annotations

from pathlib import Path

from taskmaster.tasks.v1 import query_pb2 as q

from abci_app.modules import QUERY_INVALID
from abci_app.modules.pagination import MAX_LIMIT, PageRequest
from abci_app.modules.tasks import keeper
from abci_app.tx.address import from_bech32
from tests.unit.tasks.task_chain import definition, put, schedule_msg, start


def test_pages_of_an_account_listing_join_to_every_task_once(tmp_path: Path) -> None:
    tc = start(str(tmp_path / "db"))
    owner = tc.addr("user0")
    msgs = [schedule_msg(definition(owner, put(owner, b"k%d" % i, b"v"), i, 30)) for i in range(7)]
    assert tc.block([tc.tx("user0", msgs, gas=5_000_000, fee=20_000)]).tx_results[0].code == 0
    every = [h.hex() for h in keeper.owner_tasks(tc.ctx(), from_bech32(owner))]
    assert len(every) == 7
    for limit in (1, 2, 3, 7, 0):
        seen: list[str] = []
        key = b""
        while True:
            code, page = tc.query(
                "GetAccountTasks",
                q.QueryGetAccountTasksRequest(account=owner, pagination=PageRequest(key=key, limit=limit)),
                q.QueryGetAccountTasksResponse,
            )
            assert code == 0, page
            seen += page.task_hashes
            key = page.pagination.next_key
            if not key:
                break
        assert seen == every, limit
    code, page = tc.query(
        "GetAccountTasksWithBlocks",
        q.QueryGetAccountTasksWithBlocksRequest(
            account=owner, pagination=PageRequest(offset=3, limit=2, count_total=True)
        ),
        q.QueryGetAccountTasksWithBlocksResponse,
    )
    assert code == 0
    assert list(page.task_hashes) == every[3:5] and len(page.blocks) == 2
    assert page.pagination.next_key == bytes.fromhex(every[5]) and page.pagination.total == 7


def test_a_listing_limit_above_the_maximum_or_a_bad_page_is_an_invalid_query(tmp_path: Path) -> None:
    tc = start(str(tmp_path / "db"))
    owner = tc.addr("user0")
    for page in (
        PageRequest(limit=MAX_LIMIT + 1),
        PageRequest(key=b"\x01", offset=1),
        PageRequest(key=b"\xab" * 5000),
    ):
        request = q.QueryGetAccountTasksRequest(account=owner, pagination=page)
        code, log = tc.query("GetAccountTasks", request, q.QueryGetAccountTasksResponse)
        assert code == QUERY_INVALID.code, log
