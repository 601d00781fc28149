"""The project's error class: bad input from a user (a file, a name, an option), never a bug.

The CLI prints a :class:`WsrlError` as one line and exits 2; anything else is a bug and keeps its
traceback. It subclasses ``ValueError`` so callers that caught ``ValueError`` keep working.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


class WsrlError(ValueError):
    """A user error whose message names the file or option, what was found and what was expected."""


class UnknownNameError(WsrlError, KeyError):
    """A name that no registry holds (also a ``KeyError``, as a failed lookup)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


@contextmanager
def about(source: str | os.PathLike) -> Iterator[None]:
    """Name ``source`` in every :class:`WsrlError` raised inside, unless the message already starts with it."""
    try:
        yield
    except WsrlError as exc:
        if str(exc).startswith(str(source)):
            raise
        raise WsrlError(f"{source}: {exc}") from None
