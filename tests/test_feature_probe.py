"""The feature diagnostics used for M1+M2 give known answers on small problems."""

from __future__ import annotations

import torch

from benchmarks.feature_probe import active_units, logistic_error, nn1_error


def _blobs(n_per: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    centres = torch.eye(10) * 10
    y = torch.arange(10).repeat_interleave(n_per)
    return centres[y] + torch.randn(len(y), 10, generator=g), y


def test_classifiers_separate_well_separated_classes():
    x_l, y_l = _blobs(10, 0)
    x_t, y_t = _blobs(50, 1)
    assert logistic_error(x_l, y_l, x_t, y_t) == 0.0
    assert nn1_error(x_l, y_l, x_t, y_t) == 0.0
    shuffled = y_t[torch.randperm(len(y_t), generator=torch.Generator().manual_seed(2))]
    assert nn1_error(x_l, y_l, x_t, shuffled) > 0.5  # wrong labels are counted as errors


def test_active_units_counts_varying_dimensions():
    g = torch.Generator().manual_seed(0)
    loc = torch.zeros(1000, 6)
    loc[:, :3] = torch.randn(1000, 3, generator=g)  # active
    loc[:, 3] = 0.01 * torch.randn(1000, generator=g)  # variance 1e-4: inactive
    assert active_units(loc) == 3
