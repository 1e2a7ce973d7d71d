"""ELBO estimators by name: ``trace`` (Monte Carlo KL), ``meanfield`` (analytic KL) and
``iwae`` (the importance-weighted bound of Burda et al. 2015)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pyro.infer
import torch
from pyro.infer.enum import get_importance_trace
from pyro.infer.util import get_dependent_plate_dims, torch_sum
from pyro.poutine.util import site_is_subsample

from ppvae.errors import ConfigError
from ppvae.registry import ELBOS

ElboFactory = Callable[[int, bool, int], pyro.infer.ELBO]


def _particles(num_particles: int, vectorize: bool, max_plate_nesting: int) -> dict[str, Any]:
    """Keyword arguments shared by Pyro's ELBO constructors."""
    return {
        "num_particles": num_particles,
        "vectorize_particles": vectorize and num_particles > 1,
        "max_plate_nesting": max_plate_nesting,
    }


@ELBOS.register("trace")
def trace_elbo(num_particles: int, vectorize: bool, max_plate_nesting: int) -> pyro.infer.ELBO:
    """Trace_ELBO: Monte Carlo estimate of every term, reparameterized gradients."""
    return pyro.infer.Trace_ELBO(**_particles(num_particles, vectorize, max_plate_nesting))


@ELBOS.register("meanfield")
def meanfield_elbo(num_particles: int, vectorize: bool, max_plate_nesting: int) -> pyro.infer.ELBO:
    """TraceMeanField_ELBO: analytic KL(q(z|x) || p(z)) where available, Monte Carlo otherwise."""
    return pyro.infer.TraceMeanField_ELBO(
        **_particles(num_particles, vectorize, max_plate_nesting)
    )


class IWAE_ELBO(pyro.infer.ELBO):  # noqa: N801  (Pyro's naming)
    """log (1/K) sum_k p(x, z_k) / q(z_k | x), z_k ~ q, per example, K = ``num_particles``.

    Particles are always vectorized; the log-sum-exp runs over particles separately for
    every example (every plate shared by all sites is kept, the others are summed).
    Training needs reparameterized guide sites (:func:`check_elbo` refuses others);
    :meth:`log_weights` alone serves any guide (importance sampling).
    """

    def __init__(self, num_particles: int = 1, max_plate_nesting: int = 1) -> None:
        super().__init__(
            num_particles=num_particles,
            max_plate_nesting=max_plate_nesting,
            vectorize_particles=True,
        )

    def _get_trace(self, model, guide, args, kwargs):  # noqa: ANN001, ANN202
        return get_importance_trace("flat", self.max_plate_nesting, model, guide, args, kwargs)

    def log_weights(self, model, guide, *args, **kwargs) -> torch.Tensor:  # noqa: ANN001
        """log p(x, z_k) - log q(z_k | x), shape (K, *shared plates)."""
        (model_trace, guide_trace), = self._get_traces(model, guide, args, kwargs)
        sites = [s for s in model_trace.nodes.values()
                 if s["type"] == "sample" and not site_is_subsample(s)]
        sum_dims = get_dependent_plate_dims(sites)
        log_w = 0.0
        for site in sites:
            log_w = log_w + torch_sum(site["log_prob"], sum_dims)
        for site in guide_trace.nodes.values():
            if site["type"] == "sample" and not site_is_subsample(site):
                log_w = log_w - torch_sum(site["log_prob"], sum_dims)
        if not torch.is_tensor(log_w) or log_w.dim() == 0:
            raise ConfigError("iwae found no latent or observed sites to weigh")
        if self.num_particles == 1:  # Pyro adds no particle plate for a single particle
            log_w = log_w.unsqueeze(0)
        return log_w

    def differentiable_loss(self, model, guide, *args, **kwargs) -> torch.Tensor:  # noqa: ANN001
        log_w = self.log_weights(model, guide, *args, **kwargs)
        bound = torch.logsumexp(log_w, dim=0) - math.log(self.num_particles)
        return -bound.sum()

    def loss(self, model, guide, *args, **kwargs) -> float:  # noqa: ANN001
        with torch.no_grad():
            return self.differentiable_loss(model, guide, *args, **kwargs).item()

    def loss_and_grads(self, model, guide, *args, **kwargs) -> float:  # noqa: ANN001
        loss = self.differentiable_loss(model, guide, *args, **kwargs)
        loss.backward()
        return loss.item()


@ELBOS.register("enum")
def enum_elbo(num_particles: int, vectorize: bool, max_plate_nesting: int) -> pyro.infer.ELBO:
    """TraceEnum_ELBO: discrete guide sites marked for enumeration are summed out exactly."""
    return pyro.infer.TraceEnum_ELBO(
        **_particles(num_particles, vectorize, max_plate_nesting),
        strict_enumeration_warning=False,
    )


@ELBOS.register("iwae")
def iwae_elbo(num_particles: int, vectorize: bool, max_plate_nesting: int) -> pyro.infer.ELBO:
    """IWAE bound with K = num_particles importance samples per example (vectorized)."""
    return IWAE_ELBO(num_particles=num_particles, max_plate_nesting=max_plate_nesting)


ENUMERATES = {"enum"}  # ELBOs that sum out enumerated guide sites
NEEDS_RSAMPLE = {"meanfield", "iwae"}  # ELBOs that need every guide site reparameterized


def check_elbo(name: str, enumerated: tuple[str, ...], not_reparameterized: tuple[str, ...]
               ) -> None:
    """Refuse an ELBO that cannot handle the guide's discrete or non-reparameterized sites."""
    ELBOS.entry(name)
    if enumerated and name not in ENUMERATES:
        raise ConfigError(
            f"the guide enumerates site(s) {list(enumerated)}; elbo {name!r} would sample them "
            f"instead. Use elbo = {sorted(ENUMERATES)[0]!r}"
        )
    bad = list(enumerated) + list(not_reparameterized)
    if bad and name in NEEDS_RSAMPLE:
        raise ConfigError(
            f"elbo {name!r} needs reparameterized guide sites; {bad} are not. "
            f"Use {sorted(ENUMERATES)[0]!r} (enumerated discrete sites) or 'trace'"
        )


def make_elbo(
    name: str, num_particles: int = 1, vectorize: bool = True, max_plate_nesting: int = 1
) -> pyro.infer.ELBO:
    """The ELBO registered as ``name``."""
    factory: ElboFactory = ELBOS.get(name)
    return factory(num_particles, vectorize, max_plate_nesting)
