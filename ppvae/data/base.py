"""In-memory datasets and where their files live."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ppvae.errors import DataNotFoundError

ENV_DATA_DIR = "PPVAE_DATA_DIR"
ENV_OFFLINE = "PPVAE_OFFLINE"


@dataclass(frozen=True)
class DataSpec:
    """Shape facts a model or guide needs to build itself."""

    x_dim: int
    image_shape: tuple[int, int] | None = None
    num_classes: int | None = None


@dataclass
class TensorData:
    """A dataset held as whole tensors: flat ``x`` of shape (N, x_dim), optional labels.

    ``train_noise``: per-example standard deviations; each epoch then trains on
    ``x_train + train_noise * N(0, 1)`` (features drawn from an encoder's q(z|x)).
    ``source``: for data derived from another run, which state of it (recorded with runs
    trained on the data, and checked when they are resumed or evaluated).
    ``held_out``: for such data, how many of the last training rows that run never trained
    on (its ``data.hold_out``).
    """

    name: str
    spec: DataSpec
    x_train: torch.Tensor
    x_test: torch.Tensor
    y_train: torch.Tensor | None = None
    y_test: torch.Tensor | None = None
    dynamic_binarize: bool = False
    train_noise: torch.Tensor | None = None
    source: str = ""
    held_out: int = 0

    def train_epoch(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """Training inputs for one epoch: a fresh Bernoulli draw if dynamically binarized,
        a fresh Gaussian draw if ``train_noise`` is set, else ``x_train`` itself."""
        return self._draw(self.x_train, self.train_noise, generator)

    def _draw(self, x: torch.Tensor, noise: torch.Tensor | None,
              generator: torch.Generator | None) -> torch.Tensor:
        """One draw of inputs ``x`` (with their ``noise`` std), on ``x``'s device."""
        if self.dynamic_binarize:
            return torch.bernoulli(x, generator=generator)
        if noise is not None:
            return x + noise * torch.randn(x.shape, generator=generator, device=x.device)
        return x

    def draw_rows(self, rows: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """A fresh draw of the training inputs ``rows``, as ``train_epoch`` draws them, made
        on the CPU by ``generator`` and returned on the data's device."""
        device = self.x_train.device
        rows = rows.to(device)
        noise = None if self.train_noise is None else self.train_noise[rows].cpu()
        return self._draw(self.x_train[rows].cpu(), noise, generator).to(device)

    def fixed_draw(self, x: torch.Tensor, seed: int) -> torch.Tensor:
        """``x`` as evaluated: one Bernoulli draw by ``seed`` if dynamically binarized (made
        on the CPU, so every device sees the same draw), else ``x`` itself."""
        if not self.dynamic_binarize:
            return x
        draw = torch.bernoulli(x.cpu(), generator=torch.Generator().manual_seed(seed))
        return draw.to(x.device)

    def to(self, device: torch.device | str) -> TensorData:
        """The same data with every tensor on ``device`` (itself if already there)."""
        device = torch.device(device)
        if self.x_train.device == device:
            return self
        move = {f: getattr(self, f) for f in ("x_train", "x_test", "y_train", "y_test",
                                               "train_noise")}
        moved: dict[str, Any] = {f: v.to(device) if v is not None else None
                                 for f, v in move.items()}
        return dataclasses.replace(self, **moved)

    @property
    def n_train(self) -> int:
        return int(self.x_train.shape[0])

    @property
    def n_test(self) -> int:
        return int(self.x_test.shape[0])


def default_root() -> Path:
    """The user cache folder for data (``$XDG_CACHE_HOME/ppvae/data``)."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "ppvae" / "data"


def data_root(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The data folder: the argument, else ``$PPVAE_DATA_DIR``, else the user cache."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get(ENV_DATA_DIR)
    return Path(env).expanduser() if env else default_root()


def download_allowed() -> bool:
    """False when ``$PPVAE_OFFLINE`` is set to a true value."""
    return os.environ.get(ENV_OFFLINE, "").lower() not in ("1", "true", "yes")


def missing_files_error(
    dataset: str, folder: Path, files: list[str], reason: str
) -> DataNotFoundError:
    """An error naming the files expected and the folder to put them in."""
    listing = "\n".join(f"  {folder / f}" for f in files)
    return DataNotFoundError(
        f"{dataset} data not found ({reason}). Expected these files:\n{listing}\n"
        f"Put them in {folder}, or point --data-dir / ${ENV_DATA_DIR} at a folder that "
        f"holds them."
    )


def split_indices(n: int, n_test: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded random train/test split of ``range(n)``."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm[n_test:].sort().values, perm[:n_test].sort().values
