"""Property tests: 18-decimal parsing round-trips exactly and never produces or accepts a float."""

from __future__ import annotations

import json
from decimal import ROUND_DOWN, Decimal, localcontext
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

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
from devtools.coingecko_simulator import render_json
from tests.unit.pricefeed.pricefeed_helpers import no_floats

prices = st.integers(min_value=1, max_value=MAX_PRICE)
signed = st.integers(min_value=-MAX_PRICE, max_value=MAX_PRICE)


def decimal_oracle(text: str) -> int:
    """floor(text * 10**18) computed by the decimal module with ample precision."""
    with localcontext() as ctx:
        ctx.prec = 2000
        return int((Decimal(text) * SCALE).to_integral_value(rounding=ROUND_DOWN))


@given(prices)
def test_integer_round_trip(units: int) -> None:
    assert parse_price(format_decimal18(units)) == units
    assert parse_price(JsonNumber(format_decimal18(units))) == units
    assert parse_price(format_decimal18_exponent(units)) == units


@given(signed)
def test_signed_round_trip(units: int) -> None:
    assert parse_decimal18(format_decimal18(units), allow_negative=True, allow_zero=True) == units


@given(
    whole=st.integers(min_value=0, max_value=10**20),
    frac=st.text(alphabet="0123456789", max_size=40),
    exponent=st.one_of(st.none(), st.integers(min_value=-40, max_value=10)),
)
def test_decimal_strings_match_the_decimal_module(whole: int, frac: str, exponent: int | None) -> None:
    text = str(whole) + (f".{frac}" if frac else "") + (f"e{exponent}" if exponent is not None else "")
    expected = decimal_oracle(text)
    if 0 < expected <= MAX_PRICE:
        assert parse_price(text) == expected
        assert parse_price(loads_no_float(text)) == expected  # the same text as a JSON token
    else:
        try:
            parse_price(text)
        except PriceParseError:
            pass
        else:
            raise AssertionError(f"{text!r} should be rejected (value {expected})")


@given(units=prices, extra=st.text(alphabet="0123456789", min_size=1, max_size=20))
def test_digits_past_18_decimals_round_down(units: int, extra: str) -> None:
    text = format_decimal18(units)
    text = (text if "." in text else text + ".") + "0" * (18 - len(text.partition(".")[2])) + extra
    assert parse_price(text) == units


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_floats_are_always_refused(value: float) -> None:
    try:
        parse_price(value)
    except PriceParseError:
        pass
    else:
        raise AssertionError("a float was accepted")


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_loads_no_float_never_yields_a_float(value: Any) -> None:
    parsed = loads_no_float(json.dumps(value))
    assert no_floats(parsed)


@settings(max_examples=200)
@given(st.dictionaries(st.from_regex(r"[a-z]{1,8}", fullmatch=True), prices, min_size=1, max_size=5))
def test_simulator_rendering_parses_back_exactly(served: dict[str, int]) -> None:
    body = render_json({coin: {"usd": JsonNumber(format_decimal18(p))} for coin, p in served.items()})
    parsed = loads_no_float(body)
    assert {coin: parse_price(parsed[coin]["usd"]) for coin in served} == served
