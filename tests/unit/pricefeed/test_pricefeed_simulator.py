"""The CoinGecko simulator: response and error shapes, per-key modes, admin endpoint, CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from abci_app.pricefeed.decimal18 import loads_no_float, parse_price
from devtools.coingecko_simulator import SimConfigError, SimulatedPrices, render_json, validate_config
from tests.unit.pricefeed.pricefeed_helpers import SIM_NOW, START, run, sim_config, simulator

ROOT = Path(__file__).resolve().parents[3]
QUERY = "/simple/price?ids=bitcoin,ethereum&vs_currencies=usd&include_last_updated_at=true&precision=full"


def clock() -> float:
    return SIM_NOW


async def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as resp:
        return resp.status, dict(resp.headers), await resp.text()


def test_response_shape_and_exact_numbers() -> None:
    async def go() -> tuple[int, str]:
        async with simulator(sim_config(k={}), clock=clock) as (_, base_url):
            status, _, text = await get(base_url + QUERY, {"x-cg-demo-api-key": "k"})
            return status, text

    status, text = run(go())
    assert status == 200
    assert json.loads(text) == {
        "bitcoin": {"usd": 67187.33, "last_updated_at": int(SIM_NOW)},
        "ethereum": {"usd": 3500.123456789012345678, "last_updated_at": int(SIM_NOW)},
    }
    # the text carries every digit (a float would have lost the tail of ethereum's price)
    assert '"usd": 3500.123456789012345678' in text
    assert parse_price(loads_no_float(text)["ethereum"]["usd"]) == 3_500_123_456_789_012_345_678


@pytest.mark.parametrize(
    ("precision", "usd"),
    [
        ("full", "3500.123456789012345678"),
        ("18", "3500.123456789012345678"),
        ("2", "3500.12"),
        ("9", "3500.123456789"),
        ("10", "3500.1234567890"),  # trailing zero dropped as a JSON number prints it: 3500.123456789
        ("0", "3500"),
        (None, "3500.12345678901"),  # 15 significant digits, as the documented example prints
        ("19", "3500.12345678901"),  # not a documented value: as if absent
        ("fullest", "3500.12345678901"),
    ],
)
def test_precision_is_honoured(precision: str | None, usd: str) -> None:
    async def go() -> str:
        query = "/simple/price?ids=ethereum&vs_currencies=usd"
        if precision is not None:
            query += f"&precision={precision}"
        async with simulator(sim_config(k={}), clock=clock) as (_, base_url):
            return (await get(base_url + query, {"x-cg-demo-api-key": "k"}))[2]

    expected = usd.rstrip("0").rstrip(".") if "." in usd else usd
    assert run(go()) == '{"ethereum": {"usd": ' + expected + "}}"


def test_include_flags_add_the_documented_fields_in_order() -> None:
    async def go() -> dict[str, Any]:
        query = (
            "/simple/price?ids=bitcoin&vs_currencies=usd,eur&include_market_cap=true&include_24hr_vol=true"
            "&include_24hr_change=true&include_last_updated_at=true&precision=full"
        )
        config = {**sim_config(k={}), "drift_per_s": {"bitcoin/usd": "0.01"}}
        async with simulator(config, clock=clock) as (_, base_url):
            return dict(loads_no_float((await get(base_url + query, {"x-cg-demo-api-key": "k"}))[2]))

    body = run(go())
    assert list(body["bitcoin"]) == [
        *("eur", "eur_market_cap", "eur_24h_vol", "eur_24h_change"),
        *("usd", "usd_market_cap", "usd_24h_vol", "usd_24h_change"),
        "last_updated_at",
    ]
    assert body["bitcoin"]["eur_24h_change"] == "0"
    # 100 s after start at +0.01/s it is 67188.33, a day earlier 66324.33: +864 is 1.30268937507548 %
    assert body["bitcoin"]["usd_24h_change"] == "1.30268937507548"
    assert body["bitcoin"]["usd_market_cap"] == "67188330000"  # the price times the synthetic supply


def test_rate_limited_sends_no_retry_after_unless_scripted() -> None:
    async def go() -> tuple[int, dict[str, str], str]:
        async with simulator(sim_config(k={"mode": "rate_limited"})) as (_, base_url):
            return await get(base_url + QUERY, {"x-cg-demo-api-key": "k"})

    status, headers, text = run(go())
    assert status == 429 and "Retry-After" not in headers
    assert json.loads(text)["status"]["error_code"] == 429


@pytest.mark.parametrize(
    ("headers", "suffix", "status", "code"),
    [
        ({}, "", 401, 10002),
        ({"x-cg-demo-api-key": "nobody"}, "", 401, 10002),
        ({}, "&x_cg_demo_api_key=k", 200, None),
        ({"x-cg-pro-api-key": "k"}, "", 200, None),
        ({"x-cg-demo-api-key": "pro"}, "", 401, 10010),
        ({"x-cg-pro-api-key": "demo"}, "", 401, 10011),
        ({}, "&x_cg_pro_api_key=demo", 401, 10011),
    ],
)
def test_keys_and_plans(headers: dict[str, str], suffix: str, status: int, code: int | None) -> None:
    async def go() -> tuple[int, str]:
        config = sim_config(k={}, pro={"plan": "pro"}, demo={"plan": "demo"})
        async with simulator(config) as (_, base_url):
            got, _, text = await get(base_url + QUERY + suffix, headers)
            return got, text

    got, text = run(go())
    assert got == status
    if code is not None:
        assert json.loads(text)["status"]["error_code"] == code


@pytest.mark.parametrize(
    ("settings", "status", "check"),
    [
        ({"mode": "error500"}, 500, "error_code"),
        ({"mode": "unauthorized"}, 401, "10002"),
        ({"mode": "rate_limited", "retry_after": 7}, 429, "Rate Limit"),
        ({"mode": "html"}, 503, "<title>"),
        ({"mode": "garbage"}, 200, "not json"),
        ({"mode": "nulls"}, 200, '"usd": null'),
        ({"mode": "missing_coins"}, 200, '"bitcoin"'),
        ({"mode": "stale", "stale_age_s": 3600}, 200, str(int(SIM_NOW) - 3600)),
    ],
)
def test_modes(settings: dict[str, Any], status: int, check: str) -> None:
    async def go() -> tuple[int, dict[str, str], str]:
        async with (
            simulator(sim_config(k=settings), clock=clock) as (_, base_url),
            aiohttp.ClientSession() as s,
            s.get(base_url + QUERY, headers={"x-cg-demo-api-key": "k"}) as resp,
        ):
            body = await resp.read()
            return resp.status, dict(resp.headers), body.decode("utf-8", errors="replace")

    got, headers, text = run(go())
    assert got == status and check in text
    if settings["mode"] == "rate_limited":
        assert headers["Retry-After"] == "7"
        assert json.loads(text)["status"]["error_code"] == 429
    if settings["mode"] == "missing_coins":
        assert "ethereum" not in text
    if settings["mode"] == "html":
        assert headers["Content-Type"].startswith("text/html")


def test_bad_requests() -> None:
    async def go() -> list[int]:
        async with simulator(sim_config(k={})) as (_, base_url):
            h = {"x-cg-demo-api-key": "k"}
            return [
                (await get(base_url + "/simple/price?vs_currencies=usd", h))[0],
                (await get(base_url + "/simple/price?ids=bitcoin", h))[0],
                (
                    await get(
                        base_url.removesuffix("/api/v3") + "/simple/price?ids=bitcoin&vs_currencies=usd", h
                    )
                )[0],
                (await get(base_url + "/ping"))[0],
            ]

    assert run(go()) == [400, 400, 200, 200]


def test_admin_endpoint_changes_a_key_at_runtime() -> None:
    async def go() -> list[Any]:
        async with simulator(sim_config(k={}), clock=clock) as (sim, base_url):
            root = base_url.removesuffix("/api/v3")
            out: list[Any] = []
            async with aiohttp.ClientSession() as session:
                async with session.post(f"{root}/_sim/keys/k", data='{"mode": "error500", "skew": 2.5}') as r:
                    out.append((r.status, (await r.json())["mode"]))
                out.append((await get(base_url + QUERY, {"x-cg-demo-api-key": "k"}))[0])
                async with session.post(f"{root}/_sim/keys/k", json={"mode": None}) as r:  # reset to default
                    out.append((await r.json())["mode"])
                _, _, text = await get(base_url + QUERY, {"x-cg-demo-api-key": "k"})
                out.append(parse_price(loads_no_float(text)["bitcoin"]["usd"]))
                async with session.post(f"{root}/_sim/keys/new", json={"skew": "3"}) as r:  # creates a key
                    out.append(r.status)
                async with session.post(f"{root}/_sim/keys/k", json={"mode": "sleepy"}) as r:
                    out.append((r.status, "mode must be one of" in (await r.json())["error"]))
                async with session.post(f"{root}/_sim/keys/k", data="[1]") as r:
                    out.append(r.status)
                _status, _, text = await get(f"{root}/_sim/keys")
                listing = json.loads(text)
                out.append((sorted(listing["keys"]), listing["requests"], listing["start_time"]))
                out.append(SimulatedPrices(listing).price("k", "bitcoin/usd", int(SIM_NOW)))
                async with session.delete(f"{root}/_sim/keys/new") as r:
                    out.append(await r.json())
            out.append(sorted(sim.config["keys"]))
            return out

    out = run(go())
    assert out[0] == (200, "error500")
    assert out[1] == 500
    assert out[2] == "ok"
    assert out[3] == 67_187_330_000_000_000_000_000 * 5 // 2  # the skew set while in error500 stays
    assert out[4] == 200
    assert out[5] == (400, True)
    assert out[6] == 400
    assert out[7] == (["k", "new"], {"k": 2}, START)
    assert out[8] == out[3]
    assert out[9] == {"deleted": True}
    assert out[10] == ["k"]


def test_simulated_prices() -> None:
    config = {
        "start_time": 1000,
        "coins": {"bitcoin": {"usd": "100"}},
        "drift_per_s": {"bitcoin/usd": "0.5"},
        "paths": {"ethereum/usd": ["1", "2", "3"]},
        "path_step_s": 10,
        "keys": {"a": {}, "b": {"skew": "0.001", "prices": {"solana/usd": "150.25"}}, "c": {"mode": "stale"}},
    }
    prices = SimulatedPrices(config)
    one = 10**18
    assert prices.price("a", "bitcoin/usd", 1000) == 100 * one
    assert prices.price("a", "bitcoin/usd", 1010) == 105 * one
    assert prices.price("a", "bitcoin/usd", 990) == 95 * one
    assert [prices.price("a", "ethereum/usd", 1000 + t) for t in (0, 9, 10, 25, 30)] == [
        one,
        one,
        2 * one,
        3 * one,
        one,
    ]
    assert prices.price("b", "bitcoin/usd", 1000) == one // 10
    assert prices.price("a", "solana/usd", 1000) is None
    assert prices.prices("b", 1000) == {"bitcoin/usd": one // 10, "solana/usd": 150_250_000_000_000_000}
    assert prices.served_timestamp("a", 5000.9) == 5000
    assert prices.served_timestamp("c", 5000.9) == 5000 - 3600
    with pytest.raises(SimConfigError, match="start_time"):
        SimulatedPrices({"coins": {}})


@pytest.mark.parametrize(
    "config",
    [
        {"coins": {"bitcoin": {"usd": 1.5}}},  # a float price: give prices as strings
        {"coins": {"bitcoin": {"usd": "-1"}}},
        {"coins": {"Bitcoin": {"usd": "1"}}},
        {"keys": {"k": {"mode": "sleepy"}}},
        {"keys": {"k": {"skew": "0"}}},
        {"keys": {"k": {"paths": {"bitcoin/usd": []}}}},
        {"keys": {"k": {"colour": "red"}}},
        {"keys": {"k": {"retry_after": -1}}},
        {"speed": 1},
    ],
)
def test_config_validation(config: dict[str, Any]) -> None:
    with pytest.raises((SimConfigError, ValueError)):
        validate_config(config)


def test_render_json_never_uses_floats() -> None:
    assert render_json({"a": [1, None, True, "x"]}) == '{"a": [1, null, true, "x"]}'
    with pytest.raises(TypeError, match="float"):
        render_json({"a": 1.5})


def test_cli_prints_its_address_first_and_serves(tmp_path: Path) -> None:
    config = tmp_path / "sim.json"
    config.write_text(json.dumps(sim_config(k={"exponent": True})).replace('"62001.5"', "62001.5"))
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "coingecko_sim.py"), "--port", "0", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().strip()
        assert first.startswith("coingecko-sim listening on http://127.0.0.1:")
        root = first.rsplit(" ", 1)[1]
        status, _, text = run(get(root + "/api/v3" + QUERY, {"x-cg-demo-api-key": "k"}), timeout=5)
        assert status == 200 and '"usd": 6.718733e4' in text
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=5)
    assert proc.returncode == 0, err
    assert "coingecko-sim stopped" in out


def test_cli_refuses_a_bad_config(tmp_path: Path) -> None:
    config = tmp_path / "sim.json"
    config.write_text('{"keys": {"k": {"mode": "sleepy"}}}')
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "coingecko_sim.py"), "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 2 and "mode must be one of" in result.stderr
