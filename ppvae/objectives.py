"""Training objectives: everything the trainer's loop asks of what it trains.

An objective says which rows an epoch steps over, the loss of a batch (summed over its
examples), the epoch's training figures, the evaluation after each epoch, and its own state
for checkpoints. The config picks one by name (:data:`OBJECTIVES`), as it picks ELBOs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import pyro.infer
import torch
from pyro.poutine.messenger import Messenger

from ppvae.config import RunConfig
from ppvae.data.base import TensorData
from ppvae.distributed import Context
from ppvae.elbos import check_elbo, make_elbo
from ppvae.errors import ConfigError
from ppvae.evaluation import elbo_total
from ppvae.pair import Pair
from ppvae.registry import Registry


class Objective(Protocol):
    """The protocol of the trainer's loop."""

    #: the score whose minimum selects ``best.pt`` (``None``: no model selection)
    selection: str | None

    def start_epoch(self, x_epoch: torch.Tensor) -> torch.Tensor:
        """Given this epoch's training inputs, the rows the epoch's steps run over."""
        ...

    def loss(self, pair: Pair, x: torch.Tensor) -> torch.Tensor:
        """The differentiable loss of a batch of those rows (a sum over examples)."""
        ...

    def end_epoch(self, total: float, n: int) -> dict[str, float]:
        """The epoch's training figures, from the loss ``total`` summed over its ``n`` rows
        (over every process)."""
        ...

    def scores(self, pair: Pair, data: TensorData, batch_size: int) -> dict[str, float]:
        """Evaluation after an epoch: ``test_elbo`` at least (each process takes a share)."""
        ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def _args(x: torch.Tensor, y: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
    # keep the argument list tensor-only (JIT-traceable)
    return (x,) if y is None else (x, y)


class LatentScale(Messenger):
    """Multiplies the log-density of every unobserved sample site by ``weight``."""

    def __init__(self, weight: float) -> None:
        super().__init__()
        self.weight = weight

    def _process_message(self, msg: Any) -> None:
        if msg["type"] == "sample" and not msg["is_observed"]:
            msg["scale"] = self.weight * msg["scale"]


class ElboObjective:
    """The negative ELBO of a Pyro ELBO estimator on unlabelled data; with ``warmup`` > 0
    epochs, its latent terms weigh ``min(1, epoch / warmup)`` in training (KL warm-up)."""

    selection: str | None = None

    def __init__(self, elbo: pyro.infer.ELBO, ctx: Context | None = None,
                 warmup: int = 0) -> None:
        self.elbo = elbo
        self.ctx = ctx or Context()
        self.warmup = warmup
        self.done = 0  # epochs ended (counted only with a warm-up)

    @property
    def kl_weight(self) -> float:
        """The weight of the latent terms in the current epoch."""
        return min(1.0, (self.done + 1) / self.warmup) if self.warmup else 1.0

    def __call__(
        self, model: Callable[..., Any], guide: Callable[..., Any], x: torch.Tensor,
        y: torch.Tensor | None
    ) -> torch.Tensor:
        """Pyro's differentiable loss of ``model``/``guide`` on a batch."""
        # every Pyro ELBO has differentiable_loss(); the ELBO base class leaves it undeclared
        return self.elbo.differentiable_loss(model, guide, *_args(x, y))  # type: ignore[attr-defined]

    def start_epoch(self, x_epoch: torch.Tensor) -> torch.Tensor:
        return x_epoch

    def loss(self, pair: Pair, x: torch.Tensor) -> torch.Tensor:
        weight = self.kl_weight
        if weight == 1.0:
            return self(pair.model, pair.guide, x, None)
        return self(LatentScale(weight)(pair.model), LatentScale(weight)(pair.guide), x, None)

    def end_epoch(self, total: float, n: int) -> dict[str, float]:
        weight = self.kl_weight
        self.done += 1
        if weight == 1.0:
            return {"train_elbo": -total / n}
        return {"train_objective": -total / n, "kl_weight": weight}

    def scores(self, pair: Pair, data: TensorData, batch_size: int) -> dict[str, float]:
        x = self.ctx.shard(data.x_test)
        (total,) = self.ctx.sum([elbo_total(self.elbo, pair, x, batch_size)])
        return {"test_elbo": -total / data.n_test}

    def state_dict(self) -> dict[str, Any]:
        return {"epochs_done": self.done} if self.warmup else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.done = int(state.get("epochs_done", 0))


def elbo_objective(cfg: RunConfig, pair: Pair, ctx: Context | None = None) -> ElboObjective:
    """The ELBO objective a config asks for."""
    t = cfg.train
    check_elbo(t.elbo, pair.enumerated, pair.not_reparameterized)
    if t.kl_warmup and pair.not_reparameterized:  # a weighted score-function term is biased
        raise ConfigError(f"train.kl_warmup needs reparameterized guide sites; "
                          f"{list(pair.not_reparameterized)} are not")
    return ElboObjective(
        make_elbo(t.elbo, t.num_particles, t.vectorize_particles, pair.max_plate_nesting), ctx,
        t.kl_warmup,
    )


OBJECTIVES: Registry[Any] = Registry("objective")


@OBJECTIVES.register("elbo")
def _elbo(cfg: RunConfig, pair: Pair, _data: TensorData, ctx: Context) -> ElboObjective:
    """The ELBO on every training example."""
    return elbo_objective(cfg, pair, ctx)


def make_objective(cfg: RunConfig, pair: Pair, data: TensorData, ctx: Context) -> Objective:
    """The objective a config asks for: ``semi`` with a ``[semi]`` table, else ``elbo``."""
    import ppvae.semi  # noqa: F401  (registers "semi")

    name = "semi" if cfg.semi is not None else "elbo"
    return OBJECTIVES.get(name)(cfg, pair, data, ctx)
