"""Datasets registered by name, returned as in-memory tensors."""

from __future__ import annotations

import os

from ppvae.config import Component
from ppvae.data import frey, mnist, toy2d  # noqa: F401  (register datasets)
from ppvae.data.base import DataSpec, TensorData, data_root, download_allowed
from ppvae.registry import DATASETS

__all__ = ["DataSpec", "TensorData", "data_root", "load_data"]


def load_data(
    component: Component, root: str | os.PathLike[str] | None = None, download: bool | None = None
) -> TensorData:
    """Load the dataset a config names from ``root`` (see :func:`data_root`)."""
    loader = DATASETS.get(component.name)
    allow = download_allowed() if download is None else download
    return loader(component.options, data_root(root), allow)
