"""The M2 guide: a classifier q(y | x) and an encoder q(z | x, y)."""

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
from ppvae.nets import LabelledMLP, init_weights, mlp, plain
from ppvae.registry import GUIDES


@dataclass(frozen=True)
class M2GuideOptions:
    """``z_dim`` (the model's); ``hidden``: the widths of q(z|x, y)'s MLP, which reads ``y``
    one-hot next to ``x``; ``classifier_hidden``: those of q(y|x)'s MLP; one
    ``activation`` for both; ``init``: ``glorot`` (Glorot-uniform weights, zero biases) or
    PyTorch's ``default``; ``scale``: q(z|x, y)'s std as ``exp`` of its layer's output
    (``log_scale``) or of half of it (``logvar``, as jonemeth/generative-models' M2)."""

    z_dim: int = 50
    hidden: tuple[int, ...] = (500,)
    classifier_hidden: tuple[int, ...] = (500,)
    activation: str = "softplus"
    init: Literal["default", "glorot"] = "default"
    scale: Literal["log_scale", "logvar"] = "log_scale"

    def validate(self) -> None:
        if self.z_dim < 1 or any(h < 1 for h in (*self.hidden, *self.classifier_hidden)):
            raise ConfigError("guide.z_dim and hidden sizes must be >= 1")
        if not self.hidden:
            raise ConfigError("guide.hidden needs at least one layer for m2")
        if self.scale not in ("log_scale", "logvar"):
            raise ConfigError(f"guide.scale must be log_scale or logvar; got {self.scale!r}")


@GUIDES.register("m2", config=M2GuideOptions)
class M2Guide(PyroModule):
    """q(y|x) Categorical (enumerated in parallel when y is not given); q(z|x,y) Normal."""

    def __init__(self, opts: M2GuideOptions, spec: DataSpec) -> None:
        super().__init__()
        if not spec.num_classes:
            raise ConfigError("the m2 guide needs labelled data (a dataset with classes)")
        self.num_classes = spec.num_classes
        self.classifier_body, cw = mlp(spec.x_dim, opts.classifier_hidden, opts.activation)
        self.classifier_out = nn.Linear(cw, spec.num_classes)
        self.encoder = LabelledMLP(spec.x_dim, spec.num_classes, opts.hidden, opts.activation)
        self.loc = nn.Linear(self.encoder.width, opts.z_dim)
        self.log_scale = nn.Linear(self.encoder.width, opts.z_dim)
        self.scale_factor = 0.5 if opts.scale == "logvar" else 1.0
        init_weights(self, opts.init)

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of q(y | x)."""
        return plain(self, "classifier_out")(plain(self, "classifier_body")(x))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> None:
        with pyro.plate("data", x.shape[0]):
            if y is None:
                y = pyro.sample("y", dist.Categorical(logits=self.classify(x)),
                                infer={"enumerate": "parallel"})
            h = plain(self, "encoder")(x, y)
            loc, out = plain(self, "loc")(h), plain(self, "log_scale")(h)
            scale = (out * self.scale_factor if self.scale_factor != 1.0 else out).exp()
            pyro.sample("z", dist.Normal(loc, scale).to_event(1))
