"""Each module owns its `tx` / `query` commands (`abci_app/modules/<m>/cli.py`), found from the router."""

from __future__ import annotations

import argparse
import json

import pytest
from google.protobuf.message import Message

from abci_app.cli import build_parser, main, module_clis
from abci_app.client import RpcClient
from abci_app.router import Router, default_modules

ADDRESS = "task1example"
SAMPLES = {  # a value for each positional or required argument of a query command, by its dest
    "address": ADDRESS,
    "owner": ADDRESS,
    "operator_address": ADDRESS,
    "key": "k",
    "pair": "bitcoin/usd",
    "name": "oracle_prices",
    "hash": "ab" * 32,
    "hashes": "ab" * 32,
    "start": "1",
    "end": "2",
    "task_gas": "50000",
    "code_id": "cd" * 32,
}
VARIANTS = {  # commands whose flags choose between query routes, or that need a flag to build a request
    "tasks account": [[], ["--with-blocks"]],
    "tasks next-blocks": [[], ["--account", ADDRESS]],
    "tasks estimate-bond": [["--kv-put", "k=v", "--owner", ADDRESS]],
}


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _leaves(
    parser: argparse.ArgumentParser, path: list[str]
) -> list[tuple[list[str], argparse.ArgumentParser]]:
    children = _subcommands(parser)
    if not children:
        return [(path, parser)]
    return [leaf for name, child in children.items() for leaf in _leaves(child, [*path, name])]


def _argv(path: list[str], parser: argparse.ArgumentParser) -> list[str]:
    argv = list(path)
    for action in parser._actions:
        if not action.option_strings:
            argv.append(SAMPLES[action.dest])
        elif action.required:
            argv += [action.option_strings[0], SAMPLES[action.dest]]
    return argv


def _query_paths_reached(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> set[str]:
    """Run every ``taskmaster query ...`` command against a node that answers empty responses."""
    reached: set[str] = set()

    def answer(
        self: RpcClient, path: str, request: Message, response_type: type[Message], height: int = 0
    ) -> Message:
        reached.add(path)
        return response_type()

    monkeypatch.setattr(RpcClient, "query", answer)
    query = _subcommands(build_parser())["query"]
    for path, leaf in _leaves(query, ["query"]):
        for extra in VARIANTS.get(" ".join(path[1:]), [[]]):
            main([*_argv(path, leaf), *extra, "--output", "json"])
            json.loads(capsys.readouterr().out)  # every query prints one JSON document
    return reached


def test_every_query_route_of_every_module_is_reachable_from_a_query_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The Cosmos SDK's services (cosmos.*) are for standard clients (docs/cosmos-services.md); they
    # answer data the CLI reads through the chain's own taskmaster.* queries.
    routes = {path for path in Router(default_modules()).queries if not path.startswith("/cosmos.")}
    assert routes - _query_paths_reached(monkeypatch, capsys) == set()


def test_every_module_with_query_routes_has_a_query_group_of_its_name() -> None:
    groups = _subcommands(_subcommands(build_parser())["query"])
    assert [m.name for m in default_modules() if m.queries and m.name not in groups] == []


def test_the_modules_are_discovered_in_the_routers_order() -> None:
    assert [name for name, _ in module_clis()] == [m.name for m in default_modules()]


def test_taskmaster_help_lists_every_module(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    for module in default_modules():
        assert f" {module.name} (" in out, module.name


@pytest.mark.parametrize(
    "argv",
    [
        ["--home", "/h", "--output", "json", "--node", "http://n:1", "query", "kv", "get", "o", "k"],
        ["query", "--home", "/h", "kv", "--output", "json", "get", "o", "k", "--node", "http://n:1"],
        ["query", "kv", "get", "o", "k", "--home", "/h", "-o", "json", "--node", "http://n:1"],
    ],
)
def test_the_node_flags_count_before_or_after_any_subcommand(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert (args.home, args.output, args.node) == ("/h", "json", "http://n:1")


def test_node_flags_left_out_take_their_defaults() -> None:
    args = build_parser().parse_args(["query", "kv", "get", "o", "k"])
    assert (args.output, args.grpc, args.height) == ("text", "", 0)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (b"hello", "hello"),
        (b"", ""),
        ((3).to_bytes(8, "little"), "0x0300000000000000"),  # the wasm counter's u64
        (b"\xff\xfe", "0xfffe"),  # not UTF-8
        (b"a\nb", "0x610a62"),  # UTF-8, but a control character would garble the terminal
    ],
)
def test_kv_get_prints_text_as_text_and_bytes_as_hex(value: bytes, shown: str) -> None:
    from abci_app.modules.kv.cli import show_value

    assert show_value(value) == shown
