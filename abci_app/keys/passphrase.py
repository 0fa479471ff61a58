"""Where a passphrase comes from: a callable the keyring asks with a prompt.

The CLI passes :func:`from_terminal` to ask on the terminal, or :func:`from_file` / :func:`from_env`
when a flag names a file or an environment variable (scripts, ``make run``, CI). The ``test`` keyring
backend never asks.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable
from pathlib import Path

from abci_app.keys.errors import PassphraseError

PassphraseSource = Callable[[str], str]
"""Called with a prompt ("passphrase for key 'alice'"), returns the passphrase."""


def from_terminal() -> PassphraseSource:
    """Ask on the controlling terminal, without echo."""

    def ask(prompt: str) -> str:
        return getpass.getpass(f"{prompt}: ")

    return ask


def from_file(path: str | Path) -> PassphraseSource:
    """Read the passphrase from ``path`` (its first line, without the line end) each time it is asked."""

    def read(prompt: str) -> str:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise PassphraseError(f"cannot read the passphrase file {path}: {e}") from None
        passphrase = text.split("\n", 1)[0].removesuffix("\r")
        if not passphrase:
            raise PassphraseError(
                f"the passphrase file {path} is empty: write the passphrase on its first line"
            )
        return passphrase

    return read


def from_env(variable: str) -> PassphraseSource:
    """Read the passphrase from the environment variable ``variable`` each time it is asked."""

    def read(prompt: str) -> str:
        passphrase = os.environ.get(variable, "")
        if not passphrase:
            raise PassphraseError(
                f"the environment variable {variable} holding the passphrase is unset or empty"
            )
        return passphrase

    return read


def fixed(passphrase: str) -> PassphraseSource:
    """Always answer ``passphrase`` (tests, and callers that already hold it)."""
    return lambda prompt: passphrase
