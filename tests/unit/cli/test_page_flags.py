"""Every list query command takes the page flags, sends them as its PageRequest and prints next_key."""

from __future__ import annotations

import argparse
import base64
import json

import pytest
from cosmos.base.query.v1beta1 import pagination_pb2
from google.protobuf.message import Message

from abci_app.cli import build_parser, main
from abci_app.client import RpcClient
from abci_app.router import Router, default_modules
from tests.unit.cli.test_module_clis import VARIANTS, _argv, _leaves, _subcommands

FLAGS = ["--limit", "7", "--page-key", base64.b64encode(b"\x00\x01").decode(), "--reverse", "--count-total"]
NEXT_KEY = b"\xfe\xff"


def _list_commands() -> list[tuple[list[str], argparse.ArgumentParser]]:
    query = _subcommands(build_parser())["query"]
    return [
        (path, leaf)
        for path, leaf in _leaves(query, ["query"])
        if any("--page-key" in a.option_strings for a in leaf._actions)
    ]


def test_each_list_command_sends_its_page_and_prints_the_next_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sent: dict[str, Message] = {}
    reached: set[str] = set()

    def answer(
        self: RpcClient, path: str, request: Message, response_type: type[Message], height: int = 0
    ) -> Message:
        sent[path] = request
        response = response_type()
        response.pagination.next_key = NEXT_KEY  # type: ignore[attr-defined]
        return response

    monkeypatch.setattr(RpcClient, "query", answer)
    for path, leaf in _list_commands():
        for extra in VARIANTS.get(" ".join(path[1:]), [[]]):
            sent.clear()
            main([*_argv(path, leaf), *extra, *FLAGS, "--output", "json"])
            printed = json.loads(capsys.readouterr().out)
            assert printed["pagination"]["next_key"] == base64.b64encode(NEXT_KEY).decode(), path
            ((route, request),) = sent.items()
            expected = pagination_pb2.PageRequest(key=b"\x00\x01", limit=7, reverse=True, count_total=True)
            assert request.pagination == expected, route  # type: ignore[attr-defined]
            reached.add(route)
    paged = {
        p
        for p, r in Router(default_modules()).queries.items()
        if "pagination" in r.request_type.DESCRIPTOR.fields_by_name
        and not p.startswith("/cosmos.")  # the SDK's services, for standard clients (docs/cosmos-services.md)
    }
    assert reached == paged


def test_the_last_page_prints_an_empty_next_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(
        RpcClient, "query", lambda self, path, request, response_type, height=0: response_type()
    )
    main(["query", "staking", "validators", "--output", "json"])
    assert json.loads(capsys.readouterr().out)["pagination"] == {"next_key": ""}


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--page-key", "not base64!"], "is not base64"),
        (["--page-key", "AAE=", "--offset", "3"], "not both"),
    ],
)
def test_a_bad_page_is_refused_before_asking_the_node(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], flags: list[str], words: str
) -> None:
    def unreachable(*_: object, **__: object) -> Message:
        raise AssertionError("the node was asked")

    monkeypatch.setattr(RpcClient, "query", unreachable)
    with pytest.raises(SystemExit):
        main(["query", "staking", "validators", *flags])
    assert words in capsys.readouterr().err
