"""Gradient clipping by value (``train.clip_grad``): each element to ± clip × the step's rows."""

from __future__ import annotations

import pyro
import pytest
import torch

from ppvae.config import from_dict
from ppvae.elbos import make_elbo
from ppvae.errors import ConfigError
from ppvae.objectives import ElboObjective
from ppvae.train import sgd_epoch
from tests.conftest import fixed_pair
from tests.test_resume import CFG


def step(clip_per_row: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The gradient and the step SGD (lr 1) took, one step of 4 rows from fixed weights."""
    x = (torch.rand(4, 6, generator=torch.Generator().manual_seed(2)) < 0.5).float()
    pair = fixed_pair(x)
    before = torch.cat([p.detach().flatten() for p in pair.parameters()])
    optim = torch.optim.SGD(pair.parameters(), lr=1.0)
    pyro.set_rng_seed(5)
    sgd_epoch(pair, ElboObjective(make_elbo("meanfield")), optim, x, torch.arange(4), 4,
              clip_per_row=clip_per_row)
    after = torch.cat([p.detach().flatten() for p in pair.parameters()])
    grad = torch.cat([p.grad.flatten() for p in pair.parameters()])
    return grad, before - after


def test_clip_grad_clamps_each_element_to_clip_times_rows():
    plain, plain_step = step(0.0)
    torch.testing.assert_close(plain_step, plain)
    clipped, clipped_step = step(0.1)
    bound = 0.1 * 4
    over = plain.abs() > bound
    assert 0 < int(over.sum()) < plain.numel()  # some elements clipped, some not
    torch.testing.assert_close(clipped, plain.clamp(-bound, bound))
    torch.testing.assert_close(clipped_step, plain.clamp(-bound, bound))  # clipped, then stepped


@pytest.mark.parametrize("value", [0.0, 5.0])
def test_clip_grad_zero_or_positive_is_accepted(value):
    cfg = from_dict({**CFG, "train": {**CFG["train"], "clip_grad": value}})
    assert cfg.train.clip_grad == value


@pytest.mark.parametrize("value", [-1.0, float("nan"), float("inf")])
def test_bad_clip_grad_is_refused(value):
    with pytest.raises(ConfigError, match="train.clip_grad must be a finite number >= 0"):
        from_dict({**CFG, "train": {**CFG["train"], "clip_grad": value}})
