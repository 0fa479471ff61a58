"""Prices as integers with 18 decimals, parsed from JSON text without ever going through a float.

A price ``p`` is carried everywhere (cache, vote extensions, state) as the integer ``floor(p * 10**18)``.

Parsing rules (:func:`parse_price`):

* The input is the *text* of a number: a JSON number token as kept by :func:`loads_no_float` (a
  :class:`JsonNumber`, a ``str`` subclass), or a plain ``str`` holding a decimal literal, or a Python
  ``int`` (whole units). ``float`` is refused outright (it has already lost precision), as are ``bool``,
  ``None`` and every other type.
* Accepted grammar: ``[+-]? digits [. digits] [(e|E) [+-]? digits]`` (also ``.5`` and ``5.``); no
  whitespace, no underscores, no hexadecimal. ``NaN``, ``Infinity`` and ``-Infinity`` are refused.
* The value must be positive: negative numbers and zero are refused, and so is a positive value below
  ``1e-18`` (it would round to zero).
* Digits past the 18th decimal are dropped: the result rounds **down** (toward zero), so
  ``"0.0000000000000000019"`` is ``1`` and ``"1.5e-7"`` is ``150000000000``.
* Bounds: at most :data:`MAX_TOKEN_CHARS` characters of text, an exponent within
  ``±`` :data:`MAX_EXPONENT` and a result of at most :data:`MAX_PRICE` (``10**30`` units), so a hostile
  response cannot make the parser build a gigantic integer.

The conversion is exact integer arithmetic on the digits of the token (no ``decimal`` context, no
rounding other than the documented truncation).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

DECIMALS = 18
SCALE: int = 10**DECIMALS
MAX_PRICE: int = 10**30 * SCALE
"""Largest accepted price as an integer: 10**30 whole units."""
MAX_TOKEN_CHARS = 256
MAX_EXPONENT = 1000

_NUMBER = re.compile(r"([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?")


class PriceParseError(ValueError):
    """A value that is not a positive, finite decimal number usable as a price."""


class JsonNumber(str):
    """The exact source text of a JSON number token (see :func:`loads_no_float`)."""

    __slots__ = ()


def loads_no_float(
    text: str | bytes, object_pairs_hook: Callable[[list[tuple[str, Any]]], Any] | None = None
) -> Any:
    """Parse JSON keeping every number as its source text (:class:`JsonNumber`): no float, no int.

    ``NaN``, ``Infinity`` and ``-Infinity`` (which Python's ``json`` accepts) also become
    :class:`JsonNumber` tokens, which :func:`parse_price` then refuses with a clear error. Raises
    ``json.JSONDecodeError`` (a ``ValueError``) on malformed JSON and ``UnicodeDecodeError`` on bytes
    that are not UTF-8. ``object_pairs_hook`` is ``json.loads``'s (e.g. to refuse duplicate keys).
    """
    return json.loads(
        text,
        parse_float=JsonNumber,
        parse_int=JsonNumber,
        parse_constant=JsonNumber,
        object_pairs_hook=object_pairs_hook,
    )


def _describe(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def parse_decimal18(value: object, *, allow_negative: bool = False, allow_zero: bool = False) -> int:
    """Convert the text of a decimal number to ``floor(value * 10**18)`` (truncated toward zero).

    :func:`parse_price` is this with positivity enforced; the simulator uses the signed form for price
    drifts. Raises :class:`PriceParseError` on anything else than a finite decimal number (see the
    module docstring for the rules).
    """
    if isinstance(value, bool) or value is None:
        raise PriceParseError(f"expected a number, got {_describe(value)}")
    if isinstance(value, float):
        raise PriceParseError("refusing a float: parse JSON with loads_no_float() so prices stay exact")
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, str):
        text = str(value)  # a JsonNumber or a plain decimal string
    else:
        raise PriceParseError(f"expected a number, got {type(value).__name__} {_describe(value)}")
    if len(text) > MAX_TOKEN_CHARS:
        raise PriceParseError(f"number text too long ({len(text)} characters, at most {MAX_TOKEN_CHARS})")
    match = _NUMBER.fullmatch(text)
    if match is None or not (match.group(2) or match.group(3)):
        if text.lstrip("+-").lower() in ("nan", "infinity", "inf"):
            raise PriceParseError(f"not a finite number: {_describe(text)}")
        raise PriceParseError(f"not a decimal number: {_describe(text)}")
    sign, int_part, frac_part, exp_text = match.groups()
    frac_part = frac_part or ""
    exponent = int(exp_text) if exp_text else 0
    if abs(exponent) > MAX_EXPONENT:
        raise PriceParseError(f"exponent out of range (|e| <= {MAX_EXPONENT}): {_describe(text)}")
    digits = (int_part + frac_part).lstrip("0")
    if not digits:
        if allow_zero:
            return 0
        raise PriceParseError(f"price must be positive, got zero: {_describe(text)}")
    # value = int(digits) * 10**shift / 10**18, with shift counting the decimals we want to keep.
    shift = exponent - len(frac_part) + DECIMALS
    # Quick magnitude check before building any big integer: digits has len(digits) significant digits.
    if len(digits) + shift > len(str(MAX_PRICE)):
        raise PriceParseError(f"price too large (at most 10**30): {_describe(text)}")
    units: int
    if shift >= 0:
        units = int(digits) * pow(10, shift)
    elif -shift >= len(digits):
        units = 0
    else:
        units = int(digits[:shift])  # drop the last -shift digits: round toward zero
    if units > MAX_PRICE:
        raise PriceParseError(f"price too large (at most 10**30): {_describe(text)}")
    if sign == "-" and units:
        if not allow_negative:
            raise PriceParseError(f"price must be positive, got a negative number: {_describe(text)}")
        units = -units
    if units == 0 and not allow_zero:
        raise PriceParseError(f"price rounds to zero at 18 decimals: {_describe(text)}")
    return units


def parse_price(value: object) -> int:
    """A positive price as an integer with 18 decimals (rounded down); :class:`PriceParseError` if not."""
    return parse_decimal18(value)


def format_decimal18(units: int) -> str:
    """The shortest plain decimal text of ``units / 10**18`` (``1500...0`` -> ``"1.5"``); exact inverse.

    ``parse_decimal18(format_decimal18(n), allow_negative=True, allow_zero=True) == n`` for every int.
    """
    if isinstance(units, bool) or not isinstance(units, int):
        raise TypeError(f"expected an int, got {type(units).__name__}")
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(units), SCALE)
    frac_text = f"{frac:018d}".rstrip("0")
    return f"{sign}{whole}.{frac_text}" if frac_text else f"{sign}{whole}"


def format_decimal18_exponent(units: int) -> str:
    """The same value as :func:`format_decimal18` in exponent notation, e.g. ``"1.5e-7"``."""
    if isinstance(units, bool) or not isinstance(units, int):
        raise TypeError(f"expected an int, got {type(units).__name__}")
    if units == 0:
        return "0e0"
    sign = "-" if units < 0 else ""
    digits = str(abs(units)).rstrip("0")
    trailing = len(str(abs(units))) - len(digits)
    # abs(units) = int(digits) * 10**trailing; value = that / 10**18
    exponent = trailing - DECIMALS + len(digits) - 1
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{sign}{mantissa}e{exponent}"
