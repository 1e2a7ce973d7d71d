"""Labelled / unlabelled / validation splits for semi-supervised training."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, get_args

import torch

from ppvae.errors import ConfigError

LabelRng = Literal["torch", "numpy"]
LABEL_RNGS: tuple[str, ...] = get_args(LabelRng)


@dataclass(frozen=True)
class LabelSplit:
    """Indices into the training set: a balanced labelled subset, the rest, and validation."""

    labelled: torch.Tensor
    unlabelled: torch.Tensor
    valid: torch.Tensor


def label_split(
    y: torch.Tensor, n_labels: int, seed: int, n_valid: int = 10000, num_classes: int = 10,
    rng: LabelRng = "torch",
) -> LabelSplit:
    """``n_labels`` examples, the same number per class, drawn by ``seed`` from all but the
    last ``n_valid`` training examples; those last ``n_valid`` are the validation set.

    ``rng``: ``torch``, a permutation of each class's indices from one torch generator
    seeded with ``seed``; ``numpy``, class by class, the first of each class's indices after
    ``numpy.random.seed(seed)`` and ``numpy.random.shuffle`` (the draw of public PyTorch
    M1+M2 code such as jonemeth/generative-models, whose labelled sets it reproduces)."""
    if not 0 <= seed < 2**32:
        raise ConfigError(f"the label seed must be in 0..{2**32 - 1}; got {seed}")
    if rng not in LABEL_RNGS:
        raise ConfigError(f"unknown label generator {rng!r}; valid: {', '.join(LABEL_RNGS)}")
    y = y.cpu()
    if y.dim() != 1:
        raise ConfigError(f"labels must be 1-D class indices; got shape {tuple(y.shape)}")
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        bad = y[(y < 0) | (y >= num_classes)][0].item()
        raise ConfigError(f"label {bad} is outside 0..{num_classes - 1}")
    n = y.shape[0]
    if not 0 <= n_valid < n:
        raise ConfigError(f"n_valid must be in 0..{n - 1}; got {n_valid}")
    if n_labels < num_classes or n_labels % num_classes:
        raise ConfigError(
            f"labels must be a positive multiple of {num_classes} (the same number per class); "
            f"got {n_labels}"
        )
    pool = y[: n - n_valid]
    per_class = n_labels // num_classes
    counts = torch.bincount(pool.long(), minlength=num_classes)
    if int(counts.min()) < per_class:
        c = int((counts < per_class).nonzero()[0, 0])
        raise ConfigError(
            f"asked for {n_labels} labels ({per_class} per class) but class {c} has only "
            f"{int(counts[c])} training examples outside the validation set"
        )
    shuffle = _numpy_shuffle(seed) if rng == "numpy" else _torch_shuffle(seed)
    chosen = [shuffle((pool == c).nonzero()[:, 0])[:per_class] for c in range(num_classes)]
    labelled = torch.cat(chosen).sort().values
    mask = torch.ones(n - n_valid, dtype=torch.bool)
    mask[labelled] = False
    return LabelSplit(
        labelled=labelled,
        unlabelled=mask.nonzero()[:, 0],
        valid=torch.arange(n - n_valid, n),
    )


def _torch_shuffle(seed: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """Shuffles by ``torch.randperm`` from one generator seeded with ``seed``."""
    g = torch.Generator().manual_seed(seed)
    return lambda idx: idx[torch.randperm(idx.numel(), generator=g)]


def _numpy_shuffle(seed: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """Shuffles as ``numpy.random.shuffle`` after ``numpy.random.seed(seed)``, without
    touching numpy's global generator."""
    import numpy as np

    rs = np.random.RandomState(seed)  # the generator behind numpy.random.seed / shuffle

    def shuffle(idx: torch.Tensor) -> torch.Tensor:
        a = idx.numpy().copy()
        rs.shuffle(a)
        return torch.from_numpy(a)

    return shuffle
