"""Name -> class registries filled by decorators."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ppvae.errors import ConfigError, UnknownNameError

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered object and the dataclass describing its options."""

    name: str
    obj: T
    config: type | None
    doc: str


class Registry(Generic[T]):
    """A named collection of factories, e.g. all models."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}

    def register(self, name: str, config: type | None = None) -> Callable[[T], T]:
        """Decorator registering ``obj`` under ``name`` with its options dataclass."""

        def deco(obj: T) -> T:
            if name in self._entries and self._entries[name].obj is not obj:
                raise ConfigError(f"{self.kind} {name!r} is already registered")
            doc = (getattr(obj, "__doc__", None) or "").strip().splitlines()
            self._entries[name] = Entry(name, obj, config, doc[0] if doc else "")
            return obj

        return deco

    def entry(self, name: str) -> Entry[T]:
        """The entry for ``name``; an error listing valid names if unknown."""
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, self.names()) from None

    def get(self, name: str) -> T:
        """The registered object for ``name``."""
        return self.entry(name).obj

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._entries)

    def entries(self) -> list[Entry[T]]:
        """Registered entries, sorted by name."""
        return [self._entries[n] for n in self.names()]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def snapshot(self) -> dict[str, Entry[T]]:
        """The entries as they are now, for :meth:`restore`."""
        return dict(self._entries)

    def restore(self, snapshot: dict[str, Entry[T]]) -> list[Entry[T]]:
        """Go back to a :meth:`snapshot`; returns the entries registered since."""
        added = [e for n, e in self._entries.items() if snapshot.get(n) is not e]
        self._entries = dict(snapshot)
        return added


MODELS: Registry[Any] = Registry("model")
GUIDES: Registry[Any] = Registry("guide")
ELBOS: Registry[Any] = Registry("elbo")
DATASETS: Registry[Any] = Registry("dataset")
