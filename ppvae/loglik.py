"""Importance-sampled log p(x) (Burda et al. 2015) for any model/guide pair."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ppvae.elbos import IWAE_ELBO
from ppvae.errors import ConfigError
from ppvae.pair import Pair


@torch.no_grad()
def log_weights(pair: Pair, x: torch.Tensor, y: torch.Tensor | None, k: int) -> torch.Tensor:
    """log p(x, z_i) - log q(z_i | x) for ``k`` draws z_i ~ q; shape (k, n)."""
    elbo = IWAE_ELBO(num_particles=k, max_plate_nesting=pair.max_plate_nesting)
    lw = elbo.log_weights(pair.model, pair.guide, *((x,) if y is None else (x, y)))
    if lw.shape != (k, x.shape[0]):
        raise ConfigError(
            f"log-likelihood estimation needs every sample site inside the data plate; "
            f"the log weights have shape {tuple(lw.shape)}, expected {(k, x.shape[0])}"
        )
    return lw


@torch.no_grad()
def log_likelihood(
    pair: Pair,
    x: torch.Tensor,
    k: int = 1000,
    *,
    y: torch.Tensor | None = None,
    budget: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-example importance-sampled log p(x) with ``k`` samples, and the 1-sample ELBO mean.

    Work is chunked so each call draws at most about ``budget`` latents; the default keeps
    each (draws x data dimensions) tensor near 4 M values, small enough to stay in cache,
    which here runs about twice as fast as chunks of 100 k draws.
    ``progress(n_done)`` is called after each chunk of examples.
    Returns ``(log_px, elbo)``, each of shape (n,).
    """
    if k < 1:
        raise ConfigError(f"k must be >= 1; got {k}")
    pair.train(False)
    if budget is None:
        budget = max(1, 4_000_000 // max(1, x.shape[-1]))
    k_chunk = max(1, min(k, budget))
    n_chunk = max(1, budget // k_chunk)
    out_lp, out_elbo = [], []
    for start in range(0, x.shape[0], n_chunk):
        xb = x[start : start + n_chunk]
        yb = y[start : start + n_chunk] if y is not None else None
        parts, elbo_sum = [], xb.new_zeros(xb.shape[0])
        for k_start in range(0, k, k_chunk):
            kk = min(k_chunk, k - k_start)
            lw = log_weights(pair, xb, yb, kk)
            parts.append(torch.logsumexp(lw, dim=0))
            elbo_sum += lw.sum(0)
        out_lp.append(torch.logsumexp(torch.stack(parts), dim=0) - math.log(k))
        out_elbo.append(elbo_sum / k)
        if progress is not None:
            progress(xb.shape[0])
    return torch.cat(out_lp), torch.cat(out_elbo)
