"""A weight prior (``train.weight_prior``): MAP training adds (rows / N) · θ / s² per step."""

from __future__ import annotations

import pyro
import pytest
import torch

from ppvae import fit
from ppvae.config import from_dict
from ppvae.elbos import make_elbo
from ppvae.errors import ConfigError
from ppvae.objectives import ElboObjective
from ppvae.pair import Pair
from ppvae.train import make_optimizer, sgd_epoch
from tests.conftest import fixed_pair
from tests.test_resume import CFG


class PenalizedObjective(ElboObjective):
    """The negative ELBO plus the log-prior's share of a batch, written out by hand."""

    def __init__(self, n: int, std: float) -> None:
        super().__init__(make_elbo("meanfield"))
        self.n, self.std = n, std

    def loss(self, pair: Pair, x: torch.Tensor) -> torch.Tensor:
        penalty = sum(p.pow(2).sum() for p in pair.parameters()) / (2 * self.std**2)
        return super().loss(pair, x) + x.shape[0] / self.n * penalty


def trained(objective: ElboObjective, decay_per_row: float) -> list[torch.Tensor]:
    """Parameters after one pass of 3 steps (batches of 4, 4 and 2 rows) from fixed weights."""
    x = (torch.rand(10, 6, generator=torch.Generator().manual_seed(2)) < 0.5).float()
    pair = fixed_pair(x)
    optim = make_optimizer(pair.parameters(), lr=0.05)
    pyro.set_rng_seed(5)  # the same z draws in every call
    sgd_epoch(pair, objective, optim, x, torch.arange(10), 4, decay_per_row=decay_per_row)
    return [p.detach().clone() for p in pair.parameters()]


def test_decay_per_row_equals_the_prior_in_the_loss():
    n, std = 10, 0.5
    with_prior = trained(PenalizedObjective(n, std), 0.0)
    decayed = trained(ElboObjective(make_elbo("meanfield")), 1 / (n * std**2))
    plain = trained(ElboObjective(make_elbo("meanfield")), 0.0)
    for a, b in zip(with_prior, decayed, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    # negative control: without the prior the weights end elsewhere
    assert max((a - b).abs().max().item() for a, b in zip(with_prior, plain, strict=True)) > 1e-3


def test_a_run_with_a_tight_prior_ends_with_smaller_weights(tmp_path):
    def norm(prior: float) -> float:
        cfg = {**CFG, "train": {**CFG["train"], "epochs": 3, "weight_prior": prior}}
        run = fit(cfg, out=tmp_path / f"p{prior}")
        return sum(p.pow(2).sum().item() for p in run.pair.parameters())

    assert norm(0.05) < 0.8 * norm(0.0)  # measured: 11.1 vs 19.8


@pytest.mark.parametrize("value", [-1.0, float("nan"), float("inf")])
def test_bad_weight_prior_is_refused(value):
    with pytest.raises(ConfigError, match="train.weight_prior must be a finite number >= 0"):
        from_dict({**CFG, "train": {**CFG["train"], "weight_prior": value}})
