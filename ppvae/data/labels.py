"""Labelled / unlabelled / validation splits for semi-supervised training."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ppvae.errors import ConfigError


@dataclass(frozen=True)
class LabelSplit:
    """Indices into the training set: a balanced labelled subset, the rest, and validation."""

    labelled: torch.Tensor
    unlabelled: torch.Tensor
    valid: torch.Tensor


def label_split(
    y: torch.Tensor, n_labels: int, seed: int, n_valid: int = 10000, num_classes: int = 10
) -> LabelSplit:
    """``n_labels`` examples, the same number per class, drawn by ``seed`` from all but the
    last ``n_valid`` training examples; those last ``n_valid`` are the validation set."""
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
    g = torch.Generator().manual_seed(seed)
    chosen = []
    for c in range(num_classes):
        idx = (pool == c).nonzero()[:, 0]
        if idx.numel() < per_class:
            raise ConfigError(
                f"asked for {n_labels} labels ({per_class} per class) but class {c} has only "
                f"{idx.numel()} training examples outside the validation set"
            )
        chosen.append(idx[torch.randperm(idx.numel(), generator=g)[:per_class]])
    labelled = torch.cat(chosen).sort().values
    mask = torch.ones(n - n_valid, dtype=torch.bool)
    mask[labelled] = False
    return LabelSplit(
        labelled=labelled,
        unlabelled=mask.nonzero()[:, 0],
        valid=torch.arange(n - n_valid, n),
    )
