"""SVI on a conjugate Normal-Normal model reaches the analytic posterior."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.nn import PyroModule
from torch import nn

from ppvae import fit
from ppvae.data.base import DataSpec, TensorData
from ppvae.registry import GUIDES, MODELS

NOISE = 0.5  # x | z ~ N(z, NOISE^2), z ~ N(0, 1)
POST_SLOPE = 1 / (1 + NOISE**2)  # E[z | x] = x / (1 + s^2)
POST_STD = math.sqrt(NOISE**2 / (1 + NOISE**2))


@dataclass(frozen=True)
class NoOptions:
    """No options."""


class NormalNormal(PyroModule):
    """z ~ N(0, 1); x ~ N(z, 0.5^2), one dimension."""

    def __init__(self, opts: NoOptions, spec: DataSpec) -> None:
        super().__init__()

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> None:
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(x.new_zeros(1), 1.0).to_event(1))
            pyro.sample("x", dist.Normal(z, NOISE).to_event(1), obs=x)


class LinearNormal(PyroModule):
    """q(z|x) = N(a x + b, exp(c)^2)."""

    def __init__(self, opts: NoOptions, spec: DataSpec) -> None:
        super().__init__()
        self.loc = nn.Linear(1, 1)
        self.log_scale = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> None:
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Normal(self.loc(x), self.log_scale.exp()).to_event(1))


@pytest.fixture(autouse=True)
def registered():
    """The conjugate pair, registered for each test (conftest unregisters it after)."""
    MODELS.register("test_normal_normal", config=NoOptions)(NormalNormal)
    GUIDES.register("test_linear_normal", config=NoOptions)(LinearNormal)


def conjugate_data(n: int = 2000) -> TensorData:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 1, generator=g) * math.sqrt(1 + NOISE**2)
    return TensorData("normal-normal", DataSpec(x_dim=1), x_train=x, x_test=x[:500])


@pytest.mark.parametrize("elbo", ["trace", "meanfield"])
def test_svi_reaches_analytic_posterior(elbo, tmp_path):
    cfg = {
        "name": "nn",
        "data": {"name": "toy2d"},  # not loaded: the data are passed in
        "model": {"name": "test_normal_normal"},
        "guide": {"name": "test_linear_normal"},
        "train": {"elbo": elbo, "epochs": 25, "batch_size": 100, "lr": 0.02},
    }
    run = fit(cfg, out=tmp_path / "run", data=conjugate_data())
    guide = run.guide
    assert guide.loc.weight.item() == pytest.approx(POST_SLOPE, abs=0.03)
    assert guide.loc.bias.item() == pytest.approx(0.0, abs=0.03)
    assert guide.log_scale.exp().item() == pytest.approx(POST_STD, abs=0.02)
