"""Importance-sampled log p(x) (Burda et al. 2015) for any model/guide pair."""

from __future__ import annotations

import math
from collections.abc import Callable

import pyro
import torch
from pyro import poutine

from ppvae.errors import ConfigError
from ppvae.pair import Pair, sample_sites

PARTICLE_PLATE = "_ppvae_particles"


def _site_sum(trace: poutine.Trace, k: int, n: int) -> torch.Tensor:
    total = torch.zeros(k, n)
    for name, site in sample_sites(trace).items():
        lp = site["fn"].log_prob(site["value"])
        if lp.shape != (k, n):
            raise ConfigError(
                f"log-likelihood estimation needs every sample site inside the data plate; "
                f"site {name!r} has log-prob shape {tuple(lp.shape)}, expected {(k, n)}"
            )
        total = total + lp
    return total


@torch.no_grad()
def log_weights(pair: Pair, x: torch.Tensor, y: torch.Tensor | None, k: int) -> torch.Tensor:
    """log p(x, z_i) - log q(z_i | x) for ``k`` draws z_i ~ q; shape (k, n)."""
    dim = -(pair.max_plate_nesting + 1)
    with pyro.plate(PARTICLE_PLATE, k, dim=dim):
        gtr = poutine.trace(pair.guide).get_trace(x, y)
        mtr = poutine.trace(poutine.replay(pair.model, trace=gtr)).get_trace(x, y)
    n = x.shape[0]
    return _site_sum(mtr, k, n) - _site_sum(gtr, k, n)


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
        parts, elbo_sum = [], torch.zeros(xb.shape[0])
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
