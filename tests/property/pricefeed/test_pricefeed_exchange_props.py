"""Property tests: Kraken's and Binance's ticker parsers on hostile answers never raise but AnswerError,
never build a float, yield only exact in-range 18-decimal integers, and read valid decimal strings exactly
whatever ``int_max_str_digits`` is."""

from __future__ import annotations

import json
from collections.abc import Callable

from hypothesis import example, given, settings
from hypothesis import strategies as st

from abci_app.pricefeed import binance, kraken
from abci_app.pricefeed.cache import Quote
from abci_app.pricefeed.decimal18 import MAX_PRICE
from abci_app.pricefeed.provider import ProviderAnswer
from abci_app.pricefeed.simple_price import AnswerError
from tests.interpreter import int_max_str_digits
from tests.property.pricefeed.test_pricefeed_simple_price_props import decimal_oracle, json_text, number_text

JSON = "application/json"
NOW = 1_711_356_300
KRAKEN_NAMES = {"bitcoin/usd": "XBTUSD", "ethereum/usd": "ETHUSD"}
BINANCE_SYMBOLS = {"bitcoin/usd": "BTCUSDT", "ethereum/usd": "ETHUSDT"}
Parser = Callable[[bytes], ProviderAnswer]
PARSERS: dict[str, Parser] = {
    "kraken": lambda raw: kraken.parse_ticker(raw, JSON, KRAKEN_NAMES, NOW),
    "binance": lambda raw: binance.parse_ticker(raw, JSON, BINANCE_SYMBOLS, NOW),
}
DETAILS: dict[str, Callable[[bytes], str]] = {"kraken": kraken.error_detail, "binance": binance.error_detail}


def check(answer: ProviderAnswer, pairs: set[str]) -> None:
    """Every pair quoted (an exact positive int no larger than MAX_PRICE, dated NOW) or rejected."""
    assert set(answer.quotes) | set(answer.rejected) == pairs
    assert not set(answer.quotes) & set(answer.rejected)
    for quote in answer.quotes.values():
        assert type(quote.price) is int and 0 < quote.price <= MAX_PRICE
        assert quote.updated_at == NOW
    assert all(r.isprintable() and len(r) < 60 for r in answer.rejected.values())
    assert all(d.isprintable() and len(d) < 300 for d in answer.details)


def outcome(provider: str, raw: bytes) -> ProviderAnswer | tuple[str, str]:
    try:
        answer = PARSERS[provider](raw)
    except AnswerError as exc:
        assert str(exc).isprintable()
        return exc.state, str(exc)
    check(answer, set(KRAKEN_NAMES))
    return answer


def kraken_body(price: str, key: str = "XXBTZUSD") -> str:
    return '{"error": [], "result": {"' + key + '": {"a": ["1", "1", "1.000"], "c": [' + price + ', "1"]}}}'


def binance_body(price: str) -> str:
    return '[{"symbol": "BTCUSDT", "price": ' + price + '}, {"symbol": "ETHUSDT", "price": "3500.1"}]'


@settings(max_examples=300)
@given(st.sampled_from(sorted(PARSERS)), st.binary(max_size=400))
def test_arbitrary_bytes_never_raise_but_answer_error(provider: str, raw: bytes) -> None:
    outcome(provider, raw)
    detail = DETAILS[provider](raw)
    assert detail.isprintable() and len(detail) < 300


@settings(max_examples=300)
@given(st.sampled_from(sorted(PARSERS)), json_text, st.sampled_from(["top", "result", "entry", "price"]))
def test_hostile_json_anywhere_gives_quotes_or_reasons(provider: str, value: str, where: str) -> None:
    if provider == "kraken":
        body = {
            "top": value,
            "result": '{"error": [], "result": ' + value + "}",
            "entry": '{"error": [], "result": {"XXBTZUSD": ' + value + "}}",
            "price": kraken_body(value),
        }[where]
    else:
        body = {
            "top": value,
            "result": "[" + value + "]",
            "entry": '[{"symbol": "BTCUSDT", "price": "1", "x": ' + value + "}]",
            "price": binance_body(value),
        }[where]
    outcome(provider, body.encode())
    assert DETAILS[provider](body.encode()).isprintable()


@settings(max_examples=200)
@given(st.sampled_from(sorted(PARSERS)), number_text, st.sampled_from([640, 4300, 0]))
@example("kraken", "1" + "0" * 5000, 640)
@example("binance", "1" + "0" * 5000 + ".5e-4990", 4300)
@example("binance", "0.0000000000000000019", 0)
@example("kraken", "1e1000000000", 640)
def test_decimal_strings_are_read_exactly_or_refused(provider: str, text: str, limit: int) -> None:
    body = (kraken_body if provider == "kraken" else binance_body)(json.dumps(text))
    with int_max_str_digits(limit):
        result = outcome(provider, body.encode())
    assert isinstance(result, ProviderAnswer)
    assert outcome(provider, body.encode()) == result  # the same whatever int_max_str_digits is
    exponent = int(text.lower().partition("e")[2] or 0)
    value = None if len(text) > 256 or abs(exponent) > 1000 else decimal_oracle(text)
    if value is not None and 0 < value <= MAX_PRICE:
        assert result.quotes["bitcoin/usd"] == Quote(value, NOW)
    else:
        assert result.rejected["bitcoin/usd"] == "bad price"


@settings(max_examples=100)
@given(st.sampled_from(sorted(PARSERS)), number_text)
def test_a_price_given_as_a_json_number_is_never_taken(provider: str, text: str) -> None:
    body = (kraken_body if provider == "kraken" else binance_body)(text)
    result = outcome(provider, body.encode())
    if isinstance(result, ProviderAnswer):
        assert "bitcoin/usd" not in result.quotes  # documented as strings: a number may be a float's
