"""Property tests: the /simple/price parser on hostile answers never raises but AnswerError, never builds a
float, reads valid numbers exactly, and gives the same result whatever ``int_max_str_digits`` is."""

from __future__ import annotations

import json
from decimal import ROUND_DOWN, Decimal, localcontext

from hypothesis import example, given, settings
from hypothesis import strategies as st

from abci_app.pricefeed.cache import Quote
from abci_app.pricefeed.decimal18 import MAX_PRICE, SCALE, format_decimal18, format_decimal18_exponent
from abci_app.pricefeed.simple_price import (
    AnswerError,
    SimplePriceAnswer,
    error_detail,
    load_json,
    parse_answer,
)
from tests.interpreter import int_max_str_digits
from tests.unit.pricefeed.pricefeed_helpers import no_floats

PAIRS = ["bitcoin/eur", "bitcoin/usd", "ethereum/usd"]
JSON = "application/json; charset=utf-8"
TS = 1_711_356_300

digits = st.text(alphabet="0123456789", min_size=1, max_size=6000)
number_text = st.builds(
    lambda sign, whole, frac, exp: sign + whole + (f".{frac}" if frac else "") + exp,
    st.sampled_from(["", "-"]),
    st.one_of(
        st.just("0"), digits.map(lambda d: "1" + d), st.from_regex(r"[1-9][0-9]{0,20}", fullmatch=True)
    ),
    st.one_of(st.none(), st.from_regex(r"[0-9]{1,40}", fullmatch=True)),
    st.one_of(st.just(""), st.from_regex(r"[eE][+-]?[0-9]{1,7}", fullmatch=True)),
)
"""JSON number tokens, some with thousands of digits or huge exponents."""

scalar_text = st.one_of(
    number_text,
    st.sampled_from(["NaN", "Infinity", "-Infinity", "true", "false", "null", "1.5", "0", "-0.0", "1e-19"]),
    st.text(max_size=20).map(json.dumps),
)
json_text: st.SearchStrategy[str] = st.recursive(
    scalar_text,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(lambda xs: "[" + ",".join(xs) + "]"),
        st.lists(
            st.tuples(st.sampled_from(["bitcoin", "usd", "eur", "last_updated_at", "x"]), inner), max_size=4
        ).map(lambda kv: "{" + ",".join(f'"{k}":{v}' for k, v in kv) + "}"),
    ),
    max_leaves=12,
)
"""Arbitrary JSON texts (possibly with duplicate keys) built as text, so no int or float is made."""


def entry_text(price: str, ts: str) -> str:
    return '{"bitcoin": {"usd": ' + price + ', "eur": ' + price + ', "last_updated_at": ' + ts + "}}"


def check_answer(answer: SimplePriceAnswer) -> None:
    """Every requested pair is either quoted (exact positive integer, integer timestamp) or rejected."""
    assert set(answer.quotes) | set(answer.rejected) == set(PAIRS)
    assert not set(answer.quotes) & set(answer.rejected)
    for quote in answer.quotes.values():
        assert type(quote.price) is int and 0 < quote.price <= MAX_PRICE
        assert type(quote.updated_at) is int and 0 <= quote.updated_at < 10**12
    for reason in answer.rejected.values():
        assert reason.isprintable() and len(reason) < 60
    assert all(d.isprintable() and len(d) < 200 for d in answer.details)


def outcome(raw: bytes) -> object:
    """What the parser makes of ``raw``: the answer, or the AnswerError's state and message."""
    try:
        return parse_answer(raw, JSON, PAIRS)
    except AnswerError as exc:
        return (exc.state, str(exc))


@settings(max_examples=300)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_raise_but_answer_error(raw: bytes) -> None:
    result = outcome(raw)
    if isinstance(result, SimplePriceAnswer):
        check_answer(result)
    detail = error_detail(raw)
    assert detail.isprintable() and len(detail) < 140


@settings(max_examples=300)
@given(json_text, st.sampled_from(["top", "coin", "price", "timestamp"]))
def test_hostile_json_anywhere_gives_quotes_or_reasons(value: str, where: str) -> None:
    body = {
        "top": value,
        "coin": '{"bitcoin": ' + value + "}",
        "price": entry_text(value, str(TS)),
        "timestamp": entry_text("67187.33", value),
    }[where]
    result = outcome(body.encode())
    if isinstance(result, SimplePriceAnswer):
        check_answer(result)
    assert error_detail(body.encode()).isprintable()


@settings(max_examples=200)
@given(number_text, st.sampled_from([640, 4300, 0]))
@example("1" + "0" * 5000, 640)
@example("1" + "0" * 5000 + ".5e-4990", 4300)
@example("1e1000000000", 640)
def test_results_do_not_depend_on_int_max_str_digits(price: str, limit: int) -> None:
    raw = entry_text(price, price).encode()
    expected = outcome(raw)
    with int_max_str_digits(limit):
        assert outcome(raw) == expected


def decimal_oracle(text: str) -> int:
    with localcontext() as ctx:
        ctx.prec = 20_000
        ctx.Emax = 10**7
        ctx.Emin = -(10**7)
        return int((Decimal(text) * SCALE).to_integral_value(rounding=ROUND_DOWN))


@settings(max_examples=300)
@given(
    st.one_of(
        number_text, st.from_regex(r"[1-9][0-9]{0,12}(\.[0-9]{1,25})?([eE]-?[0-9]{1,2})?", fullmatch=True)
    )
)
@example("9" * 5000)
@example("1" + "0" * 200 + "e-190")
@example("1e-18")
@example("1e-19")
def test_valid_numbers_are_read_exactly_or_rejected_as_bad(price: str) -> None:
    answer = parse_answer(entry_text(price, str(TS)).encode(), JSON, PAIRS)
    exponent = int(price.lower().partition("e")[2] or 0)
    value = None if len(price) > 256 or abs(exponent) > 1000 else decimal_oracle(price)
    if value is not None and 0 < value <= MAX_PRICE:
        assert answer.quotes["bitcoin/usd"] == Quote(value, TS)
    else:
        assert answer.rejected["bitcoin/usd"] == "bad price"


@given(
    st.integers(min_value=1, max_value=MAX_PRICE),
    st.integers(min_value=0, max_value=10**12 - 1),
    st.booleans(),
)
def test_printed_prices_round_trip(units: int, ts: int, exponent: bool) -> None:
    text = format_decimal18_exponent(units) if exponent else format_decimal18(units)
    answer = parse_answer(entry_text(text, str(ts)).encode(), JSON, PAIRS)
    assert answer.quotes["bitcoin/usd"] == Quote(units, ts) == answer.quotes["bitcoin/eur"]
    assert answer.rejected == {"ethereum/usd": "coin missing from the answer"}


@given(st.sampled_from(["true", "false", '"1"', "[1]", '{"v": 1}', "null"]))
def test_non_numbers_are_never_prices(price: str) -> None:
    answer = parse_answer(entry_text(price, str(TS)).encode(), JSON, PAIRS)
    assert answer.quotes == {}


@given(json_text)
def test_the_json_reader_never_yields_a_float(value: str) -> None:
    try:
        parsed = load_json(value.encode())
    except ValueError:
        return  # duplicate keys
    assert no_floats(parsed)
