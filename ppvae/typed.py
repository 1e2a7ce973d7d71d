"""Build dataclasses from plain dicts, checking keys and types."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

from ppvae.errors import ConfigError

T = TypeVar("T")

#: the largest seed a config or a command accepts (seeds are in 0..SEED_MAX)
SEED_MAX = 2**32 - 1


def check_seed(key: str, value: int) -> None:
    """Raise ConfigError unless ``value`` is a seed in 0..SEED_MAX; ``key`` names it."""
    if not 0 <= value <= SEED_MAX:
        raise ConfigError(f"{key} must be in 0..{SEED_MAX}; got {value}")


def field_names(cls: type) -> list[str]:
    """Names of a dataclass's fields, in order."""
    return [f.name for f in dataclasses.fields(cls)]


def check_keys(given: dict[str, Any], valid: list[str], where: str) -> None:
    """Reject keys outside ``valid``, naming them and listing the valid ones."""
    unknown = sorted(set(given) - set(valid))
    if unknown:
        names = ", ".join(repr(k) for k in unknown)
        raise ConfigError(
            f"unknown key{'s' if len(unknown) > 1 else ''} {names} in [{where}]; "
            f"valid keys: {', '.join(valid)}"
        )


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against annotation ``tp``; convert lists to tuples and ints to floats."""
    origin, args = get_origin(tp), get_args(tp)
    if origin in (Union, types.UnionType):
        return _coerce_union(value, args, where)
    if origin is Literal:
        return _coerce_literal(value, args, where)
    if origin in (tuple, list):
        return _coerce_sequence(value, origin, args, where)
    return _coerce_plain(value, tp, where)


def _coerce_union(value: Any, args: tuple[Any, ...], where: str) -> Any:
    """The first member of a union that accepts ``value`` (``None`` if it is optional)."""
    if value is None and type(None) in args:
        return None
    errors = []
    for arg in args:
        if arg is type(None):
            continue
        try:
            return coerce(value, arg, where)
        except ConfigError as exc:
            errors.append(str(exc))
    if len(errors) == 1:
        raise ConfigError(errors[0])
    raise ConfigError(f"{where}: {value!r} has the wrong type")


def _coerce_literal(value: Any, args: tuple[Any, ...], where: str) -> Any:
    """``value`` if it is one of the literal's choices."""
    if value not in args:
        choices = ", ".join(repr(a) for a in args)
        raise ConfigError(f"{where} must be one of {choices}; got {value!r}")
    return value


def _coerce_sequence(value: Any, origin: Any, args: tuple[Any, ...], where: str) -> Any:
    """A list or tuple (as ``origin`` says) of coerced items."""
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{where} must be a list; got {value!r}")
    item = args[0] if args else Any
    items = [coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    return tuple(items) if origin is tuple else items


def _coerce_plain(value: Any, tp: Any, where: str) -> Any:
    """``value`` checked against ``Any``, ``float``, ``int``, ``bool`` or ``str``."""
    if tp is Any:
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where} must be a number; got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer; got {value!r}")
        return value
    if tp in (bool, str):
        if not isinstance(value, tp):
            raise ConfigError(f"{where} must be a {_type_name(tp)}; got {value!r}")
        return value
    raise ConfigError(f"{where}: unsupported option type {_type_name(tp)}")


def build(cls: type[T], values: dict[str, Any], where: str) -> T:
    """An instance of dataclass ``cls`` from ``values``; unknown keys and bad types refused."""
    check_keys(values, field_names(cls), where)
    hints = typing.get_type_hints(cls)
    kwargs = {k: coerce(v, hints[k], f"{where}.{k}") for k, v in values.items()}
    obj = cls(**kwargs)
    validate = getattr(obj, "validate", None)
    if callable(validate):
        validate()
    return obj


def to_dict(obj: Any) -> dict[str, Any]:
    """A dataclass as a plain dict with lists for tuples (TOML/JSON friendly)."""

    def plain(v: Any) -> Any:
        if isinstance(v, tuple):
            return [plain(x) for x in v]
        return v

    return {f.name: plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
