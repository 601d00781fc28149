"""One registry idiom for everything wsrl creates by name (timm's): architectures, test scenes, shape
classes, SDF primitives and checkpoint formats.

``REG.register(name, item)`` or ``@REG.register(name)`` adds an entry; ``REG.get(name)`` looks it up and
fails with one line that lists the known names; ``REG.names()`` keeps registration order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar, overload

from wsrl.errors import UnknownNameError, WsrlError

T = TypeVar("T")


class Registry(Generic[T]):
    """Named entries of one ``kind`` (the word used in error messages; ``where`` follows the name there)."""

    def __init__(self, kind: str, where: str = "") -> None:
        self.kind, self.where = kind, where
        self._items: dict[str, T] = {}

    @overload
    def register(self, name: str, item: T, *, overwrite: bool = False) -> T: ...

    @overload
    def register(self, name: str, item: None = None, *, overwrite: bool = False) -> Callable[[T], T]: ...

    def register(self, name: str, item: T | None = None, *, overwrite: bool = False):
        """Add ``item`` under ``name`` (or, without ``item``, a decorator that adds what it decorates)."""
        if item is None:
            return lambda obj: self.register(name, obj, overwrite=overwrite)
        if name in self._items and not overwrite:
            raise WsrlError(f"{self.kind} {name!r}{self.where} is already registered")
        self._items[name] = item
        return item

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(self._items) or "none"
            raise UnknownNameError(f"unknown {self.kind} {name!r}{self.where} (known: {known})") from None

    def names(self) -> list[str]:
        return list(self._items)

    def items(self) -> list[tuple[str, T]]:
        return list(self._items.items())

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Registry({self.kind}: {', '.join(self._items)})"
