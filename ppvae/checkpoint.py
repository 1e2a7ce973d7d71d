"""Atomic checkpoint files holding tensors and JSON only (loaded with weights_only=True)."""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import torch

from ppvae.errors import RunError

CHECKPOINT = "checkpoint.pt"
KEYS = ("format", "epoch", "model", "guide", "optim", "rng", "gen", "config", "metrics")


def atomic_save(obj: Any, path: Path) -> None:
    """Write ``obj`` to a temp file beside ``path``, fsync, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_pair_state(pair: Any, state: dict[str, Any], path: Path) -> None:
    """Load a checkpoint's model and guide weights; a clear error if they do not fit."""
    try:
        pair.model.load_state_dict(state["model"])
        pair.guide.load_state_dict(state["guide"])
    except RuntimeError as exc:
        raise RunError(
            f"{path} does not fit the model and guide its config builds "
            f"(saved by another ppvae version?): {str(exc).splitlines()[0]}"
        ) from None


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to a temp file beside ``path``, then rename it over ``path``."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint without executing code from it."""
    if not path.is_file():
        raise RunError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError) as exc:
        raise RunError(f"cannot read checkpoint {path} (weights-only load): {exc}") from None
    missing = [k for k in KEYS if not isinstance(state, dict) or k not in state]
    if missing:
        raise RunError(f"{path} is not a ppvae checkpoint (missing {missing})")
    return state
