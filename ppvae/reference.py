"""The reference of every config option, written from the dataclasses that define them."""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from typing import Any

from ppvae.config import SemiConfig, TrainConfig
from ppvae.registry import DATASETS, ELBOS, GUIDES, MODELS, Registry


def _type_name(tp: Any) -> str:
    """``int``, ``"a" or "b"``, ``int or none``, ``list of int``."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Literal:
        return " or ".join(f'"{a}"' if isinstance(a, str) else str(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join("none" if a is type(None) else _type_name(a) for a in args)
    if origin is tuple:
        return f"list of {_type_name(args[0])}"
    return tp.__name__ if isinstance(tp, type) else str(tp).replace("typing.", "")


def _markdown(doc: str) -> str:
    """A docstring with reST literals as Markdown code."""
    return doc.replace("``", "`")


def _default(field: dataclasses.Field) -> str:
    if field.default is not dataclasses.MISSING:
        value = field.default
    elif field.default_factory is not dataclasses.MISSING:
        value = field.default_factory()
    else:
        return "(required)"
    if isinstance(value, tuple):
        value = list(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return "(none)" if value is None else str(value)


def options_table(cls: type, prefix: str) -> str:
    """A Markdown table of ``cls``'s fields (TOML key, type, default) and its docstring."""
    hints = typing.get_type_hints(cls)
    rows = ["| option | type | default |", "| --- | --- | --- |"]
    for f in dataclasses.fields(cls):
        rows.append(f"| `{prefix}.{f.name}` | {_type_name(hints[f.name])} | `{_default(f)}` |")
    doc = _markdown(inspect.cleandoc(cls.__doc__ or ""))
    return "\n".join(rows) + ("\n\n" + doc if doc else "")


def _registry_section(title: str, key: str, reg: Registry) -> list[str]:
    out = [f"## `[{key}]`: {title}", "",
           f"`{key}.name` picks one of: " + ", ".join(f"`{n}`" for n in reg.names()) + ".", ""]
    for entry in reg.entries():
        out += [f"### `{key}.name = \"{entry.name}\"`", "", _markdown(entry.doc), ""]
        if entry.config is not None and dataclasses.is_dataclass(entry.config):
            out += [options_table(entry.config, key), ""]
    return out


def options_markdown() -> str:
    """Every option of a run's TOML config, by table, with types and defaults."""
    out = ["# Config options", "",
           "Written by `ppvae list --options` from the dataclasses that define the options "
           "(`tests/test_reference.py` checks that this page is up to date). A config is a "
           "TOML file with a top-level `name`, optional `plugins` (modules that register "
           "more pairs), the tables below, and unknown keys are refused with the valid ones "
           "listed. Any option can be set from the command line: `--set table.key=value`.", ""]
    out += _registry_section("the dataset", "data", DATASETS)
    out += _registry_section("the generative model p(z) p(x|z)", "model", MODELS)
    out += _registry_section("the guide q(z|x)", "guide", GUIDES)
    out += ["## `[train]`: optimisation", "", options_table(TrainConfig, "train"), "",
            "`train.elbo` picks one of: "
            + "; ".join(f"`{e.name}` ({e.doc.rstrip('.')})" for e in ELBOS.entries()) + ".", ""]
    out += ["## `[semi]`: few labels (optional)", "", options_table(SemiConfig, "semi"), ""]
    return "\n".join(out).rstrip() + "\n"
