"""Evaluation of a model/guide pair: ELBO, classification error, importance-sampled log p(x).

The trainer's per-epoch scores, ``ppvae evaluate`` and :meth:`ppvae.Run.evaluate` all use
these functions.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, cast

import pyro.infer
import torch
from pyro import poutine
from pyro.nn import PyroModule
from torch.distributions import Categorical

from ppvae.errors import ConfigError
from ppvae.pair import Pair


@torch.no_grad()
def elbo_total(elbo: pyro.infer.ELBO, pair: Pair, x: torch.Tensor, batch_size: int,
               y: torch.Tensor | None = None) -> float:
    """The negative ELBO summed over the rows of ``x`` (any number; the last batch may be
    short)."""
    total = 0.0
    for start in range(0, x.shape[0], batch_size):
        args: tuple[torch.Tensor, ...] = (x[start : start + batch_size],)
        if y is not None:
            args = (*args, y[start : start + batch_size])
        # every Pyro ELBO has loss(); the ELBO base class leaves it undeclared
        total += float(elbo.loss(pair.model, pair.guide, *args))  # type: ignore[attr-defined]
    return total


def elbo_per_example(elbo: pyro.infer.ELBO, pair: Pair, x: torch.Tensor, batch_size: int,
                     y: torch.Tensor | None = None) -> float:
    """The ELBO per example over ``x``."""
    return -elbo_total(elbo, pair, x, batch_size, y) / x.shape[0]


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
        out.append(cast(Categorical, node["fn"]).logits)  # the label site: a categorical
    return torch.cat(out)


def classification_errors(guide: PyroModule, x: torch.Tensor, y: torch.Tensor,
                          site: str = "y") -> int:
    """How many examples' argmax of q(y|x) differs from the label."""
    if y.numel() == 0:
        return 0
    return int((predict_logits(guide, x, site).argmax(-1) != y).sum())


def classification_error(guide: PyroModule, x: torch.Tensor, y: torch.Tensor,
                         site: str = "y") -> float:
    """Fraction of examples whose argmax of q(y|x) differs from the label."""
    return classification_errors(guide, x, y, site) / y.shape[0]


def evaluate_pair(
    pair: Pair,
    elbo: pyro.infer.ELBO,
    x: torch.Tensor,
    *,
    k: int,
    batch_size: int,
    y: torch.Tensor | None = None,
    label_site: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Test ELBO, importance-sampled log p(x) with ``k`` samples and, given labels and the
    guide's label site, the classification error."""
    from ppvae.loglik import log_likelihood

    if x.shape[0] < 2:
        raise ConfigError("evaluation needs at least 2 test examples")
    pair.train(False)
    out: dict[str, Any] = {"n_test": int(x.shape[0]), "k": k,
                           "test_elbo": elbo_per_example(elbo, pair, x, batch_size)}
    tic = time.perf_counter()
    lp, _ = log_likelihood(pair, x, k=k, progress=progress)
    out.update(test_log_px=float(lp.mean()), test_log_px_stderr=float(lp.std() / x.shape[0] ** 0.5),
               log_px_seconds=time.perf_counter() - tic, threads=torch.get_num_threads(),
               device=str(x.device), cpu_capability=torch.backends.cpu.get_cpu_capability())
    if y is not None and label_site is not None:
        out["test_error"] = classification_error(pair.guide, x, y, label_site)
    return out
