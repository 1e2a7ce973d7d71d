"""Semi-supervised objective (M2, Kingma et al. 2014) and classification error.

The trainer sees one objective on unlabelled batches; this one adds, at every step, a batch
of labelled examples drawn from a cycling, reshuffled stream: their ELBO with ``y``
observed, and the classification term ``-log q(y|x)`` read from the guide's label site.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from pyro import poutine
from pyro.nn import PyroModule

from ppvae.config import SemiConfig
from ppvae.data.labels import LabelSplit
from ppvae.errors import ConfigError
from ppvae.objectives import ElboObjective
from ppvae.pair import Pair


def label_log_prob(
    guide: PyroModule, x: torch.Tensor, y: torch.Tensor, site: str
) -> torch.Tensor:
    """log q(y | x) per example, from the guide's ``site`` conditioned on the labels."""
    tr = poutine.trace(poutine.condition(guide, data={site: y})).get_trace(x)
    if site not in tr.nodes:
        raise ConfigError(f"the guide has no label site {site!r} (semi.label_site)")
    node = tr.nodes[site]
    return node["fn"].log_prob(node["value"])


class SemiSupervisedObjective:
    """ELBO(unlabelled) + c * [v * ELBO(labelled, y) + w * -log q(y|x)] per step.

    ``c`` scales the labelled batch to its share of the data, so with ``v = 1`` the sum
    estimates the whole-data objective divided by the number of steps;
    ``w = alpha * N / N_labelled`` and ``v = labelled_weight``.
    """

    def __init__(self, elbo: ElboObjective, cfg: SemiConfig, x_l: torch.Tensor,
                 y_l: torch.Tensor, n_unlabelled: int, batch_size: int, seed: int) -> None:
        self.elbo, self.cfg = elbo, cfg
        self.x_l, self.y_l = x_l, y_l
        n_l = y_l.shape[0]
        self.batch_l = min(cfg.labelled_batch_size, n_l)
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

    def start_epoch(self, x_epoch_labelled: torch.Tensor) -> None:
        """This epoch's labelled inputs (a fresh binarization if the data are binarized)."""
        self.x_l = x_epoch_labelled

    def __call__(self, model: PyroModule, guide: PyroModule, x: torch.Tensor,
                 y: torch.Tensor | None) -> torch.Tensor:
        idx = self._next()
        xl, yl = self.x_l[idx], self.y_l[idx]
        labelled = self.elbo(model, guide, xl, yl)
        nll = -label_log_prob(guide, xl, yl, self.cfg.label_site).sum()
        unlabelled = self.elbo(model, guide, x, None)
        self.unlabelled_total += unlabelled.item()
        return unlabelled + self.scale * (self.cfg.labelled_weight * labelled + self.weight * nll)

    def reset_totals(self) -> None:
        """Start summing the unlabelled loss afresh (once per epoch)."""
        self.unlabelled_total = 0.0

    def evaluate(self, pair: Pair, x: torch.Tensor, y: torch.Tensor | None,
                 batch_size: int) -> float:
        """ELBO per example of unlabelled data."""
        return self.elbo.evaluate(pair, x, None, batch_size)

    def state_dict(self) -> dict[str, Any]:
        return {"gen": self.gen.get_state(), "order": self.order, "pos": self.pos}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.gen.set_state(state["gen"])
        self.order, self.pos = state["order"], int(state["pos"])


@torch.no_grad()
def predict_logits(guide: PyroModule, x: torch.Tensor, site: str = "y",
                   batch_size: int = 2000) -> torch.Tensor:
    """Logits of q(y | x) from the guide's label site (no enumeration: one trace per batch)."""
    classify = getattr(guide, "classify", None)
    if callable(classify):  # no encoder pass, no random draws
        return torch.cat([classify(xb) for xb in x.split(batch_size)])
    out = []
    for xb in x.split(batch_size):
        node = poutine.trace(guide).get_trace(xb).nodes.get(site)
        if node is None:
            raise ConfigError(f"the guide has no label site {site!r}")
        out.append(node["fn"].logits)
    return torch.cat(out)


def classification_error(guide: PyroModule, x: torch.Tensor, y: torch.Tensor,
                         site: str = "y") -> float:
    """Fraction of examples whose argmax of q(y|x) differs from the label."""
    pred = predict_logits(guide, x, site).argmax(-1)
    return float((pred != y).sum()) / y.shape[0]


def split_for(cfg: SemiConfig, y_train: torch.Tensor | None, num_classes: int | None
              ) -> LabelSplit:
    """The label split a config asks for."""
    from ppvae.data.labels import label_split

    if y_train is None or not num_classes:
        raise ConfigError("semi-supervised training needs a dataset with labels")
    if cfg.labels >= y_train.shape[0] - cfg.n_valid:
        raise ConfigError(
            f"semi.labels = {cfg.labels} leaves no unlabelled images: there are "
            f"{y_train.shape[0] - cfg.n_valid} training images outside the validation set"
        )
    return label_split(y_train, cfg.labels, cfg.label_seed, cfg.n_valid, num_classes)
