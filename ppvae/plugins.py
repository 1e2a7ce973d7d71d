"""Import user modules that register their own models, guides, ELBOs or datasets."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
from pathlib import Path

from ppvae.errors import ConfigError, PPVAEError


def load_plugin(spec: str) -> None:
    """Import a plugin given as a module name (``mypkg.mymod``) or a ``.py`` file path."""
    if spec.endswith(".py") or "/" in spec or "\\" in spec:
        _load_file(spec)
    else:
        _load_module(spec)


def _load_file(spec: str) -> None:
    path = Path(spec).expanduser().resolve()
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    name = f"ppvae_plugin_{path.stem}_{digest}"
    if name in sys.modules:
        return
    if not path.is_file():
        raise ConfigError(f"plugin file not found: {path}")
    mod_spec = importlib.util.spec_from_file_location(name, path)
    if mod_spec is None or mod_spec.loader is None:
        raise ConfigError(f"cannot import plugin file {path}")
    module = importlib.util.module_from_spec(mod_spec)
    sys.modules[name] = module
    try:
        mod_spec.loader.exec_module(module)
    except Exception as exc:  # a user's module may raise anything; report it
        del sys.modules[name]
        raise ConfigError(f"plugin {spec!r} failed to import: {exc!r}") from exc


def _load_module(spec: str) -> None:
    cwd = os.getcwd()
    added = cwd not in sys.path
    if added:  # like `python -m`: modules in the current folder can be named
        sys.path.append(cwd)
    try:
        importlib.import_module(spec)
    except ImportError as exc:
        raise ConfigError(
            f"cannot import plugin module {spec!r}: {exc}. Is it on PYTHONPATH or installed?"
        ) from exc
    except PPVAEError:
        raise
    except Exception as exc:  # a bad name, or a user's module that raises anything; report it
        raise ConfigError(f"plugin {spec!r} failed to import: {exc!r}") from exc
    finally:
        if added and cwd in sys.path:
            sys.path.remove(cwd)


def load_plugins(specs: list[str] | tuple[str, ...]) -> None:
    """Import each plugin in order."""
    for spec in specs:
        if not isinstance(spec, str):
            raise ConfigError(f"plugin names must be strings; got {spec!r}")
        load_plugin(spec)


def plugin_ref(spec: str) -> str:
    """How to record a plugin in a run: file paths made absolute, module names as given."""
    if spec.endswith(".py") or "/" in spec or "\\" in spec:
        return str(Path(spec).expanduser().resolve())
    return spec
