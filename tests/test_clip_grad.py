"""Gradient clipping by value (``train.clip_grad``): each element to ± clip × the step's rows."""

from __future__ import annotations

import pyro
import pytest
import torch

from ppvae.config import from_dict
from ppvae.data.base import DataSpec
from ppvae.elbos import make_elbo
from ppvae.errors import ConfigError
from ppvae.guides import NormalGuide, NormalGuideOptions
from ppvae.models import VAE, VAEOptions
from ppvae.objectives import ElboObjective
from ppvae.pair import Pair, checked
from ppvae.train import make_optimizer, sgd_epoch
from tests.test_resume import CFG


def gradients(clip_per_row: float) -> list[torch.Tensor]:
    """The gradients the optimizer stepped on, one step of 4 rows from fixed weights."""
    spec = DataSpec(x_dim=6)
    x = (torch.rand(4, 6, generator=torch.Generator().manual_seed(2)) < 0.5).float()
    pyro.clear_param_store()
    pair = checked(Pair(VAE(VAEOptions(z_dim=3, hidden=(8,)), spec),
                        NormalGuide(NormalGuideOptions(z_dim=3, hidden=(8,)), spec)), x)
    weights = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in pair.parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=weights))
    optim = make_optimizer(pair.parameters(), lr=0.05)
    pyro.set_rng_seed(5)
    sgd_epoch(pair, ElboObjective(make_elbo("meanfield")), optim, x, torch.arange(4), 4,
              clip_per_row=clip_per_row)
    return [p.grad.detach().clone() for p in pair.parameters()]


def test_clip_grad_clamps_each_element_to_clip_times_rows():
    plain = torch.cat([g.flatten() for g in gradients(0.0)])
    clipped = torch.cat([g.flatten() for g in gradients(0.1)])
    bound = 0.1 * 4
    over = plain.abs() > bound
    assert 0 < int(over.sum()) < plain.numel()  # some elements clipped, some not
    torch.testing.assert_close(clipped, plain.clamp(-bound, bound))


@pytest.mark.parametrize("value", [-1.0, float("nan"), float("inf")])
def test_bad_clip_grad_is_refused(value):
    with pytest.raises(ConfigError, match="train.clip_grad must be a finite number >= 0"):
        from_dict({**CFG, "train": {**CFG["train"], "clip_grad": value}})
