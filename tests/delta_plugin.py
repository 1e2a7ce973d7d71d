"""A plugin for the data-parallel tests: a point-mass guide, so the loss has no random draw
and a run's result does not depend on how the random streams are split between processes."""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch

from ppvae.data.base import DataSpec
from ppvae.guides import NormalGuide, NormalGuideOptions
from ppvae.registry import GUIDES


@GUIDES.register("delta_test", config=NormalGuideOptions)
class DeltaGuide(NormalGuide):
    """q(z|x) = a point mass at the encoder's mean."""

    def __init__(self, opts: NormalGuideOptions, spec: DataSpec) -> None:
        super().__init__(opts, spec)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> None:
        with pyro.plate("data", x.shape[0]):
            loc, _ = self.encode(x)
            pyro.sample("z", dist.Delta(loc).to_event(1))
