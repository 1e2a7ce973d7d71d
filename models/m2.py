"""The semi-supervised M2 model (Kingma et al. 2014): p(y) p(z) p_theta(x | y, z)."""

from __future__ import annotations

from dataclasses import dataclass

import pyro
import pyro.distributions as dist
import torch
from pyro.nn import PyroModule

from ppvae.data.base import DataSpec
from ppvae.errors import ConfigError
from ppvae.likelihoods import make_head
from ppvae.models.vae import OutputBiasFromData, VAEOptions
from ppvae.nets import LabelledMLP, init_weights, plain
from ppvae.registry import MODELS


@dataclass(frozen=True)
class M2Options(VAEOptions):
    """As the ``vae`` model's options (one hidden layer or more, 500 units by default, as in
    Pyro's ss_vae_M2); the decoder reads ``y`` one-hot next to ``z``, and the number of
    classes comes from the data."""

    hidden: tuple[int, ...] = (500,)

    def validate(self) -> None:
        super().validate()
        if not self.hidden:
            raise ConfigError("model.hidden needs at least one layer for m2")


@MODELS.register("m2", config=M2Options)
class M2(PyroModule, OutputBiasFromData):
    """y ~ Uniform categorical; z ~ N(0, I); x ~ p_theta(x | y, z). ``y`` observed when given."""

    def __init__(self, opts: M2Options, spec: DataSpec) -> None:
        super().__init__()
        if not spec.num_classes:
            raise ConfigError("the m2 model needs labelled data (a dataset with classes)")
        self.z_dim, self.num_classes = opts.z_dim, spec.num_classes
        self.output_bias = opts.output_bias
        self.decoder = LabelledMLP(opts.z_dim, spec.num_classes, opts.hidden, opts.activation)
        self.head = make_head(opts.likelihood, self.decoder.width, spec.x_dim, opts.mean,
                              opts.min_scale, opts.fixed_scale, opts.scale)
        init_weights(self, opts.init)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> None:
        loc = x.new_zeros(self.z_dim)
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(loc, torch.ones_like(loc)).to_event(1))
            y = pyro.sample("y", dist.Categorical(logits=x.new_zeros(self.num_classes)), obs=y)
            h = plain(self, "decoder")(z, y)
            pyro.sample("x", plain(self, "head")(h), obs=x)
