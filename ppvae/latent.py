"""Read a model/guide pair generically: encode, decode, sample from the prior."""

from __future__ import annotations

import torch
from pyro import poutine
from pyro.distributions import TorchDistribution

from ppvae.errors import ConfigError
from ppvae.pair import OBS_SITE, Pair, sample_sites, site_dist, site_value


def _trace(fn, *args) -> poutine.Trace:
    with torch.no_grad():
        return poutine.trace(fn).get_trace(*args)


def latent_site(pair: Pair, x: torch.Tensor) -> tuple[str, int]:
    """The single latent site of the guide and its dimension."""
    gtr = _trace(pair.guide, x[:1], None)
    sites = list(sample_sites(gtr).items())
    if len(sites) != 1:
        names = [n for n, _ in sites]
        raise ConfigError(f"this needs a guide with one latent site; it has {names}")
    name, site = sites[0]
    return name, int(site["value"].shape[-1])


def encode_mean(pair: Pair, x: torch.Tensor) -> torch.Tensor:
    """Mean of q(z|x) for each row of ``x``."""
    name, _ = latent_site(pair, x)
    return torch.cat([site_dist(_trace(pair.guide, xb, None).nodes[name]).mean
                      for xb in x.split(2000)])


def encode_moments(pair: Pair, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard deviation of q(z|x) for each row of ``x``."""
    name, _ = latent_site(pair, x)
    locs, sds = [], []
    for xb in x.split(2000):
        fn = site_dist(_trace(pair.guide, xb, None).nodes[name])
        locs.append(fn.mean)
        sds.append(fn.stddev)
    return torch.cat(locs), torch.cat(sds)


def decode(pair: Pair, z: torch.Tensor, x_dim: int, site: str = "z") -> TorchDistribution:
    """p(x | z) for a batch of latents ``z`` (shape (n, z_dim))."""
    dummy = z.new_zeros(z.shape[0], x_dim)
    tr = _trace(poutine.condition(pair.model, data={site: z}), dummy, None)
    return site_dist(tr.nodes[OBS_SITE])


def prior_decode(pair: Pair, n: int, x_dim: int) -> tuple[torch.Tensor, TorchDistribution]:
    """``n`` prior draws z and p(x | z) for them."""
    tr = _trace(pair.model, torch.zeros(n, x_dim, device=pair.device), None)
    name = next(k for k, s in sample_sites(tr).items() if not s["is_observed"])
    return site_value(tr.nodes[name]), site_dist(tr.nodes[OBS_SITE])


def class_conditional(pair: Pair, num_classes: int, n: int, x_dim: int,
                      label_site: str = "y") -> torch.Tensor:
    """Mean of p(x | y, z) for every class y (rows) and ``n`` prior draws of z shared by the
    rows (columns): shape (num_classes, n, x_dim)."""
    dummy = torch.zeros(n, x_dim, device=pair.device)
    tr = _trace(pair.model, dummy, torch.zeros(n, dtype=torch.long, device=pair.device))
    latents = {k: s["value"] for k, s in sample_sites(tr).items()
               if not s["is_observed"] and k != label_site}
    if label_site not in tr.nodes:
        raise ConfigError(f"the model has no label site {label_site!r}")
    rows = []
    for c in range(num_classes):
        y = torch.full((n,), c, dtype=torch.long, device=pair.device)
        conditioned = _trace(poutine.condition(pair.model, data=latents), dummy, y)
        rows.append(site_dist(conditioned.nodes[OBS_SITE]).mean)
    return torch.stack(rows)


def reconstruct(pair: Pair, x: torch.Tensor) -> torch.Tensor:
    """Mean of p(x | z) with z ~ q(z | x)."""
    with torch.no_grad():
        gtr = poutine.trace(pair.guide).get_trace(x, None)
        mtr = poutine.trace(poutine.replay(pair.model, trace=gtr)).get_trace(x, None)
    return site_dist(mtr.nodes[OBS_SITE]).mean
