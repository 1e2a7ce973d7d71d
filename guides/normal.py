"""Amortized diagonal-Normal guide q_phi(z|x) with an MLP encoder."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pyro
import pyro.distributions as dist
import torch
from pyro.nn import PyroModule
from torch import nn

from ppvae.data.base import DataSpec
from ppvae.errors import ConfigError
from ppvae.nets import init_weights, mlp, plain
from ppvae.registry import GUIDES


@dataclass(frozen=True)
class NormalGuideOptions:
    """``z_dim`` latent dimensions (the model's); ``hidden`` layer widths of the encoder MLP
    and its ``activation``; ``init``: ``glorot`` (Glorot-uniform weights, zero biases, as
    Burda et al.'s code) or PyTorch's ``default``."""

    z_dim: int = 50
    hidden: tuple[int, ...] = (400,)
    activation: str = "softplus"
    init: Literal["default", "glorot"] = "default"

    def validate(self) -> None:
        if self.z_dim < 1:
            raise ConfigError(f"guide.z_dim must be >= 1; got {self.z_dim}")
        if any(h < 1 for h in self.hidden):
            raise ConfigError(f"guide.hidden sizes must be >= 1; got {list(self.hidden)}")


@GUIDES.register("normal", config=NormalGuideOptions)
class NormalGuide(PyroModule):
    """q(z|x) = N(mu(x), diag sigma(x)^2), sigma = exp(encoder output)."""

    def __init__(self, opts: NormalGuideOptions, spec: DataSpec) -> None:
        super().__init__()
        self.encoder, width = mlp(spec.x_dim, opts.hidden, opts.activation)
        self.loc = nn.Linear(width, opts.z_dim)
        self.log_scale = nn.Linear(width, opts.z_dim)
        init_weights(self, opts.init)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and std of q(z|x)."""
        h = plain(self, "encoder")(x)
        return plain(self, "loc")(h), plain(self, "log_scale")(h).exp()

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> None:  # noqa: ARG002  (y: the pair signature)
        with pyro.plate("data", x.shape[0]):
            loc, scale = self.encode(x)
            pyro.sample("z", dist.Normal(loc, scale).to_event(1))
