"""One small registry class; each kind (models, readers, extractors, metrics) has one instance.

>>> colours = Registry[str]("colour")
>>> @colours.register("red")
... def make_red() -> str:
...     return "#f00"
>>> colours.get("red")()
'#f00'
>>> colours.names()
['red']
"""

from __future__ import annotations

import importlib
from typing import Callable, Generic, TypeVar

from .errors import AffectlabError

T = TypeVar("T")


class Registry(Generic[T]):
    """A name → object table whose lookups fail with a one-line user-facing error."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._lazy: dict[str, str] = {}

    def register_lazy(self, name: str, module: str) -> None:
        """Declare that importing ``module`` registers ``name``: heavy imports wait until used."""
        self._lazy[name] = module

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: register ``obj`` under ``name`` (each name once)."""

        def add(obj: T) -> T:
            if name in self._items:
                raise RuntimeError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = obj
            return obj

        return add

    def get(self, name: str) -> T:
        """The object registered as ``name``, or an :class:`AffectlabError` listing the choices."""
        if name not in self._items and name in self._lazy:
            importlib.import_module(self._lazy[name])
        try:
            return self._items[name]
        except KeyError:
            choices = ", ".join(self.names()) or "(none)"
            raise AffectlabError(f"unknown {self.kind} {name!r}; choose from: {choices}") from None

    def names(self) -> list[str]:
        """All registered names (lazy ones included), sorted."""
        return sorted(set(self._items) | set(self._lazy))

    def __contains__(self, name: object) -> bool:
        return name in self._items or name in self._lazy
