"""Interpreter settings a test can vary, to show that no answer depends on them."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def int_max_str_digits(limit: int) -> Iterator[None]:
    """Run the block with ``sys.set_int_max_str_digits(limit)`` (0 = unlimited), then restore it."""
    before = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(limit)
    try:
        yield
    finally:
        sys.set_int_max_str_digits(before)
