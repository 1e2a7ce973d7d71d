"""Datasets registered by name, returned as in-memory tensors."""

from __future__ import annotations

import os

import torch

from ppvae.config import Component
from ppvae.data import features, frey, mnist, toy2d  # noqa: F401  (register datasets)
from ppvae.data.base import DataSpec, TensorData, data_root, download_allowed
from ppvae.registry import DATASETS

__all__ = [
    "DataSpec", "TensorData", "data_root", "decode_features", "load_data"
]


def load_data(
    component: Component, root: str | os.PathLike[str] | None = None, download: bool | None = None
) -> TensorData:
    """Load the dataset a config names from ``root`` (see :func:`data_root`)."""
    loader = DATASETS.get(component.name)
    allow = download_allowed() if download is None else download
    return loader(component.options, data_root(root), allow)


def decode_features(
    component: Component, x: torch.Tensor, root: str | os.PathLike[str] | None = None
) -> tuple[torch.Tensor, tuple[int, int] | None] | None:
    """Inputs of a derived dataset mapped back to its source's data space, if it has one
    (VAE features decode to images); ``None`` otherwise."""
    decode = getattr(DATASETS.get(component.name), "decode", None)
    return None if decode is None else decode(component.options, x, root)
