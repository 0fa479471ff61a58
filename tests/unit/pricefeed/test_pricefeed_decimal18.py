"""Parsing CoinGecko prices to integers with 18 decimals, never through a float."""

from __future__ import annotations

import json

import pytest

from abci_app.pricefeed.decimal18 import (
    MAX_PRICE,
    SCALE,
    JsonNumber,
    PriceParseError,
    format_decimal18,
    format_decimal18_exponent,
    loads_no_float,
    parse_decimal18,
    parse_price,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("67187.33", 67_187_330_000_000_000_000_000),
        ("1", SCALE),
        ("0.000000000000000001", 1),
        ("1.5e-7", 150_000_000_000),
        ("1.5E-7", 150_000_000_000),
        ("2e3", 2000 * SCALE),
        ("2E+3", 2000 * SCALE),
        ("12.", 12 * SCALE),
        (".5", SCALE // 2),
        ("0.1", SCALE // 10),
        ("000123.4500", 123_450_000_000_000_000_000),
        # past 18 decimals: rounded down
        ("0.0000000000000000019", 1),
        ("1.9999999999999999999", 2 * SCALE - 1),
        ("3500.123456789012345678", 3500_123456789012345678),
        ("1234567.89e-20", 12345),
    ],
)
def test_parse_price_exact(text: str, expected: int) -> None:
    assert parse_price(text) == expected
    assert parse_price(JsonNumber(text)) == expected


def test_ints_are_whole_units() -> None:
    assert parse_price(5) == 5 * SCALE


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("0", "zero"),
        ("0.0", "zero"),
        ("-0", "zero"),
        ("0e10", "zero"),
        ("-1.5", "negative"),
        ("-1e-3", "negative"),
        ("1e-19", "rounds to zero"),
        ("NaN", "finite"),
        ("Infinity", "finite"),
        ("-Infinity", "finite"),
        ("inf", "finite"),
        ("", "not a decimal"),
        (".", "not a decimal"),
        ("e5", "not a decimal"),
        ("abc", "not a decimal"),
        ("1,5", "not a decimal"),
        (" 1", "not a decimal"),
        ("1_000", "not a decimal"),
        ("0x10", "not a decimal"),
        ("1e", "not a decimal"),
        ("1e5000", "exponent"),
        ("1e31", "too large"),
        ("1" * 300, "too long"),
        (True, "expected a number"),
        (False, "expected a number"),
        (None, "expected a number"),
        ([1], "expected a number"),
        ({"usd": 1}, "expected a number"),
        (1.5, "float"),
        (0, "zero"),
        (-3, "negative"),
    ],
)
def test_rejections_say_why(value: object, fragment: str) -> None:
    with pytest.raises(PriceParseError, match=fragment):
        parse_price(value)


def test_bounds() -> None:
    assert parse_price("1e30") == MAX_PRICE
    with pytest.raises(PriceParseError):
        parse_price("1000000000000000000000000000000.000000000000000001")


def test_signed_form_for_drifts() -> None:
    assert parse_decimal18("-0.5", allow_negative=True) == -SCALE // 2
    assert parse_decimal18("0", allow_zero=True) == 0


def test_loads_no_float_keeps_token_text() -> None:
    data = loads_no_float('{"bitcoin": {"usd": 67187.33, "usd_last_updated_at": 1711356300, "x": 1.5e-7}}')
    usd = data["bitcoin"]["usd"]
    assert isinstance(usd, JsonNumber) and usd == "67187.33"
    assert data["bitcoin"]["usd_last_updated_at"] == "1711356300"
    assert data["bitcoin"]["x"] == "1.5e-7"
    assert parse_price(data["bitcoin"]["x"]) == 150_000_000_000


def test_loads_no_float_constants_are_rejected_by_the_parser() -> None:
    data = loads_no_float('{"a": NaN, "b": Infinity, "c": -Infinity, "d": "12.5", "e": true, "f": null}')
    for name in "abc":
        assert isinstance(data[name], JsonNumber)
        with pytest.raises(PriceParseError, match="finite"):
            parse_price(data[name])
    assert not isinstance(data["d"], JsonNumber)  # a quoted string stays a plain str
    for name in "ef":
        with pytest.raises(PriceParseError, match="expected a number"):
            parse_price(data[name])


def test_loads_no_float_rejects_malformed_json() -> None:
    with pytest.raises(json.JSONDecodeError):
        loads_no_float('{"bitcoin": {"usd": 6718')


def test_format_is_the_inverse() -> None:
    assert format_decimal18(67_187_330_000_000_000_000_000) == "67187.33"
    assert format_decimal18(1) == "0.000000000000000001"
    assert format_decimal18(-SCALE // 2) == "-0.5"
    assert format_decimal18(0) == "0"
    assert format_decimal18_exponent(150_000_000_000) == "1.5e-7"
    assert format_decimal18_exponent(67_187_330_000_000_000_000_000) == "6.718733e4"
    assert format_decimal18_exponent(SCALE) == "1e0"
    with pytest.raises(TypeError):
        format_decimal18(1.5)  # type: ignore[arg-type]
