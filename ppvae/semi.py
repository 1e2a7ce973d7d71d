"""Semi-supervised objective (M2, Kingma et al. 2014) and classification error.

The trainer sees one objective on unlabelled batches; this one adds, at every step, a batch
of labelled examples drawn from a cycling, reshuffled stream: their ELBO with ``y``
observed, and the classification term ``-log q(y|x)`` read from the guide's label site.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from pyro import poutine
from pyro.nn import PyroModule

from ppvae.config import RunConfig, SemiConfig
from ppvae.data.base import TensorData
from ppvae.data.labels import LabelSplit
from ppvae.distributed import Context
from ppvae.errors import ConfigError
from ppvae.evaluation import classification_errors
from ppvae.objectives import OBJECTIVES, ElboObjective, elbo_objective
from ppvae.pair import Pair, site_dist, site_value


def label_log_prob(
    guide: PyroModule, x: torch.Tensor, y: torch.Tensor, site: str
) -> torch.Tensor:
    """log q(y | x) per example, from the guide's ``site`` conditioned on the labels."""
    tr = poutine.trace(poutine.condition(guide, data={site: y})).get_trace(x)
    if site not in tr.nodes:
        raise ConfigError(f"the guide has no label site {site!r} (semi.label_site)")
    node = tr.nodes[site]
    return site_dist(node).log_prob(site_value(node))


class SemiSupervisedObjective:
    """ELBO(unlabelled) + c * [v * ELBO(labelled, y) + w * -log q(y|x)] per step.

    ``c`` scales the labelled batch to its share of the data, so with ``v = 1`` the sum
    estimates the whole-data objective divided by the number of steps;
    ``w = alpha * N / N_labelled`` and ``v = labelled_weight``. With a ``split`` of the
    training rows, each epoch steps over the unlabelled rows; ``valid`` (inputs, labels)
    gives the validation error that selects ``best.pt``. ``draw(rows, generator)``, when
    given, makes a fresh draw of labelled inputs (``rows`` index ``x_l``) for every step.
    """

    selection = "valid_error"

    def __init__(self, elbo: ElboObjective, cfg: SemiConfig, x_l: torch.Tensor,
                 y_l: torch.Tensor, n_unlabelled: int, batch_size: int, seed: int, *,
                 split: LabelSplit | None = None,
                 valid: tuple[torch.Tensor, torch.Tensor] | None = None,
                 ctx: Context | None = None,
                 draw: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None
                 ) -> None:
        self.elbo, self.cfg, self.draw = elbo, cfg, draw
        self.ctx = ctx or Context()
        self.x_l, self.y_l = x_l, y_l
        self.split, self.valid = split, valid
        n_l = y_l.shape[0]
        self.batch_l = min(cfg.labelled_batch_size, n_l)
        if self.batch_l < self.ctx.world:
            raise ConfigError(f"the labelled batch ({self.batch_l}) must hold at least one "
                              f"example per process ({self.ctx.world})")
        steps = math.ceil(n_unlabelled / batch_size)
        self.scale = (n_l / self.batch_l) / steps  # labelled share per step, relative
        self.weight = cfg.alpha * (n_unlabelled + n_l) / n_l
        self.gen = torch.Generator().manual_seed(seed)
        self.order = torch.randperm(n_l, generator=self.gen)
        self.pos = 0
        self.unlabelled_total = 0.0  # this epoch's summed unlabelled loss (negative ELBO)

    def _next(self) -> torch.Tensor:
        if self.pos + self.batch_l > self.order.numel():
            self.order = torch.randperm(self.order.numel(), generator=self.gen)
            self.pos = 0
        idx = self.order[self.pos : self.pos + self.batch_l]
        self.pos += self.batch_l
        return idx

    def start_epoch(self, x_epoch: torch.Tensor) -> torch.Tensor:
        """This epoch's labelled inputs (a fresh binarization if the data are binarized);
        returns the unlabelled rows."""
        self.unlabelled_total = 0.0
        if self.split is None:
            return x_epoch
        self.x_l = x_epoch[self.split.labelled.to(x_epoch.device)]
        return x_epoch[self.split.unlabelled.to(x_epoch.device)]

    def _labelled(self, shard: Callable[[torch.Tensor], torch.Tensor]
                  ) -> tuple[torch.Tensor, torch.Tensor]:
        """The next labelled batch, this process's ``shard`` of it (inputs, labels)."""
        idx = self._next()
        if self.draw is None:
            idx = shard(idx).to(self.x_l.device)
            return self.x_l[idx], self.y_l[idx]
        xl = self.draw(idx, self.gen)  # the whole batch: the same draws for any process count
        part = shard(torch.arange(idx.numel())).to(xl.device)
        return xl[part], self.y_l[idx.to(self.y_l.device)[part]]

    def _loss(self, model: PyroModule, guide: PyroModule, x: torch.Tensor,
              xl: torch.Tensor, yl: torch.Tensor) -> torch.Tensor:
        labelled = self.elbo(model, guide, xl, yl)
        nll = -label_log_prob(guide, xl, yl, self.cfg.label_site).sum()
        unlabelled = self.elbo(model, guide, x, None)
        self.unlabelled_total += unlabelled.item()
        return unlabelled + self.scale * (self.cfg.labelled_weight * labelled + self.weight * nll)

    def __call__(self, model: PyroModule, guide: PyroModule, x: torch.Tensor,
                 y: torch.Tensor | None) -> torch.Tensor:  # noqa: ARG002  (as ElboObjective)
        """The loss of an unlabelled batch ``x`` with the stream's next labelled batch."""
        return self._loss(model, guide, x, *self._labelled(lambda rows: rows))

    def loss(self, pair: Pair, x: torch.Tensor) -> torch.Tensor:
        """As calling it, with this process's share of the labelled batch."""
        return self._loss(pair.model, pair.guide, x, *self._labelled(self.ctx.shard))

    def end_epoch(self, total: float, n: int) -> dict[str, float]:
        (unlabelled,) = self.ctx.sum([self.unlabelled_total])
        return {"train_elbo": -unlabelled / n, "train_objective": -total / n}

    def scores(self, pair: Pair, data: TensorData, batch_size: int) -> dict[str, float]:
        """Test ELBO, validation error (when there is a validation set) and test error."""
        out = self.elbo.scores(pair, data, batch_size)
        site = self.cfg.label_site
        if self.valid is not None and self.valid[1].numel():
            x, y = self.valid
            (wrong,) = self.ctx.sum([classification_errors(
                pair.guide, self.ctx.shard(x), self.ctx.shard(y), site)])
            out["valid_error"] = wrong / y.shape[0]
        if data.y_test is not None:
            (wrong,) = self.ctx.sum([classification_errors(
                pair.guide, self.ctx.shard(data.x_test), self.ctx.shard(data.y_test), site)])
            out["test_error"] = wrong / data.y_test.shape[0]
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"gen": self.gen.get_state(), "order": self.order, "pos": self.pos}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.gen.set_state(state["gen"])
        self.order, self.pos = state["order"], int(state["pos"])


@OBJECTIVES.register("semi")
def semi_objective(cfg: RunConfig, pair: Pair, data: TensorData, ctx: Context
                   ) -> SemiSupervisedObjective:
    """ELBO on unlabelled and labelled rows plus the classification term (``[semi]``)."""
    if cfg.semi is None:
        raise ConfigError("the semi-supervised objective needs a [semi] table")
    y_train = data.y_train
    if y_train is None:
        raise ConfigError("semi-supervised training needs a dataset with labels")
    split = split_for(cfg.semi, y_train.cpu(), data.spec.num_classes, data.held_out)
    t = cfg.train
    x_valid = data.fixed_draw(data.x_train[split.valid.to(data.x_train.device)], t.seed)
    labelled = split.labelled

    def draw(rows: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return data.draw_rows(labelled[rows], generator)

    return SemiSupervisedObjective(
        elbo_objective(cfg, pair, ctx), cfg.semi,
        data.x_train[split.labelled.to(data.x_train.device)],
        y_train[split.labelled.to(y_train.device)],
        split.unlabelled.numel(), t.batch_size, t.seed + 1,
        split=split, valid=(x_valid, y_train[split.valid.to(y_train.device)]), ctx=ctx,
        draw=draw if cfg.semi.labelled_draw == "step" else None,
    )


def split_for(cfg: SemiConfig, y_train: torch.Tensor | None, num_classes: int | None,
              held_out: int = 0) -> LabelSplit:
    """The label split a config asks for; ``held_out``: the last training rows the run that
    made the data never saw (0: it saw them all), which must cover the validation images."""
    from ppvae.data.labels import label_split

    if y_train is None or not num_classes:
        raise ConfigError("semi-supervised training needs a dataset with labels")
    if cfg.n_valid >= y_train.shape[0]:
        raise ConfigError(f"semi.n_valid = {cfg.n_valid} leaves no training images: the data "
                          f"have {y_train.shape[0]}")
    if cfg.labels >= y_train.shape[0] - cfg.n_valid:
        raise ConfigError(
            f"semi.labels = {cfg.labels} leaves no unlabelled images: there are "
            f"{y_train.shape[0] - cfg.n_valid} training images outside the validation set"
        )
    if 0 < held_out < cfg.n_valid:
        raise ConfigError(
            f"the features' VAE held out only its last {held_out} training images "
            f"(data.hold_out) but semi.n_valid = {cfg.n_valid}: it saw some validation images; "
            f"train it with data.hold_out = {cfg.n_valid}, or hold out none"
        )
    return label_split(y_train, cfg.labels, cfg.label_seed, cfg.n_valid, num_classes,
                       cfg.label_rng)
