"""The VAE generative model p(z) p_theta(x|z) with an MLP decoder."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pyro
import pyro.distributions as dist
import torch
from pyro.nn import PyroModule

from ppvae.data.base import DataSpec
from ppvae.errors import ConfigError
from ppvae.likelihoods import SCALE_LINKS, Head, make_head
from ppvae.nets import init_weights, mlp, plain
from ppvae.registry import MODELS


@dataclass(frozen=True)
class VAEOptions:
    """Decoder shape and likelihood of the VAE.

    ``z_dim`` latent dimensions; ``hidden`` layer widths of the decoder MLP, ``activation``
    one of softplus, tanh, relu, elu, sigmoid. ``likelihood``: ``bernoulli`` (by logits),
    ``gaussian`` (a learned per-dimension std plus ``min_scale``) or ``gaussian_fixed``
    (std ``fixed_scale``); ``scale``: how the learned std comes from its layer's output,
    ``softplus`` or ``logvar`` (the output is a log-variance, std = exp(output / 2), unbounded
    as in jonemeth/generative-models' M2); ``mean``: the Gaussian mean through a ``sigmoid`` or not
    (``identity``). ``output_bias``: ``data`` starts a fresh run's output-layer bias at the
    mean of all training inputs (a semi-supervised run's validation rows included): its
    logit, the mean clipped to [0.001, 0.999], where the mean goes through a sigmoid
    (Bernoulli, or ``mean = "sigmoid"``), as Burda et al.'s code; ``default`` leaves
    PyTorch's initialization. ``init``: ``glorot`` draws every linear layer's weights
    Glorot-uniform with zero biases (as Burda et al.'s code); ``default`` keeps PyTorch's.
    """

    z_dim: int = 50
    hidden: tuple[int, ...] = (400,)
    activation: str = "softplus"
    likelihood: Literal["bernoulli", "gaussian", "gaussian_fixed"] = "bernoulli"
    mean: Literal["sigmoid", "identity"] = "sigmoid"
    min_scale: float = 0.0
    fixed_scale: float = 0.1
    scale: Literal["softplus", "logvar"] = "softplus"
    output_bias: Literal["default", "data"] = "default"
    init: Literal["default", "glorot"] = "default"

    def validate(self) -> None:
        if self.z_dim < 1:
            raise ConfigError(f"model.z_dim must be >= 1; got {self.z_dim}")
        if any(h < 1 for h in self.hidden):
            raise ConfigError(f"model.hidden sizes must be >= 1; got {list(self.hidden)}")
        if self.min_scale < 0 or not self.fixed_scale > 0:
            raise ConfigError("model.min_scale must be >= 0 and model.fixed_scale > 0")
        if self.scale not in SCALE_LINKS:
            raise ConfigError(f"model.scale must be one of {', '.join(SCALE_LINKS)}; "
                              f"got {self.scale!r}")


class OutputBiasFromData:
    """``init_from_data`` for a model with an observation ``head`` and ``output_bias``."""

    head: Head
    output_bias: str

    def init_from_data(self, x_train: torch.Tensor) -> None:
        """The data-dependent part of a fresh model's initialization (``output_bias``)."""
        if self.output_bias == "data":
            self.head.init_bias(x_train.mean(0))


@MODELS.register("vae", config=VAEOptions)
class VAE(PyroModule, OutputBiasFromData):
    """z ~ N(0, I); x ~ p_theta(x | z) with Bernoulli or Gaussian likelihood."""

    def __init__(self, opts: VAEOptions, spec: DataSpec) -> None:
        super().__init__()
        self.z_dim, self.output_bias = opts.z_dim, opts.output_bias
        self.decoder, width = mlp(opts.z_dim, opts.hidden, opts.activation)
        self.head = make_head(
            opts.likelihood, width, spec.x_dim, opts.mean, opts.min_scale, opts.fixed_scale,
            opts.scale,
        )
        init_weights(self, opts.init)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> None:  # noqa: ARG002  (y: the pair signature)
        n = x.shape[0]
        loc = x.new_zeros(self.z_dim)
        with pyro.plate("data", n):
            z = pyro.sample("z", dist.Normal(loc, torch.ones_like(loc)).to_event(1))
            pyro.sample("x", plain(self, "head")(plain(self, "decoder")(z)), obs=x)
