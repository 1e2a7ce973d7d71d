"""Training objectives: callables ``(model, guide, x, y) -> scalar loss`` summed over a batch."""

from __future__ import annotations

from typing import Protocol

import pyro.infer
import torch
from pyro.nn import PyroModule

from ppvae.config import RunConfig
from ppvae.elbos import check_elbo, make_elbo
from ppvae.pair import Pair


class Objective(Protocol):
    """A differentiable loss on one batch (sum over its examples)."""

    def __call__(
        self, model: PyroModule, guide: PyroModule, x: torch.Tensor, y: torch.Tensor | None
    ) -> torch.Tensor: ...


def _args(x: torch.Tensor, y: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
    # keep the argument list tensor-only (JIT-traceable)
    return (x,) if y is None else (x, y)


class ElboObjective:
    """The negative ELBO of a Pyro ELBO estimator."""

    def __init__(self, elbo: pyro.infer.ELBO) -> None:
        self.elbo = elbo

    def __call__(
        self, model: PyroModule, guide: PyroModule, x: torch.Tensor, y: torch.Tensor | None
    ) -> torch.Tensor:
        return self.elbo.differentiable_loss(model, guide, *_args(x, y))

    @torch.no_grad()
    def evaluate(
        self, pair: Pair, x: torch.Tensor, y: torch.Tensor | None, batch_size: int
    ) -> float:
        """ELBO per example over ``x`` (any size; the last batch may be short)."""
        total = 0.0
        for start in range(0, x.shape[0], batch_size):
            xb = x[start : start + batch_size]
            yb = y[start : start + batch_size] if y is not None else None
            total += float(self.elbo.loss(pair.model, pair.guide, *_args(xb, yb)))
        return -total / x.shape[0]


def elbo_objective(cfg: RunConfig, pair: Pair) -> ElboObjective:
    """The ELBO objective a config asks for."""
    t = cfg.train
    check_elbo(t.elbo, pair.enumerated, pair.not_reparameterized)
    return ElboObjective(
        make_elbo(t.elbo, t.num_particles, t.vectorize_particles, pair.max_plate_nesting)
    )
