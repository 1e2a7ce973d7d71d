"""ELBO estimators by name: ``trace`` (Monte Carlo KL) and ``meanfield`` (analytic KL)."""

from __future__ import annotations

from collections.abc import Callable

import pyro.infer

from ppvae.registry import ELBOS

ElboFactory = Callable[[int, bool, int], pyro.infer.ELBO]


@ELBOS.register("trace")
def trace_elbo(num_particles: int, vectorize: bool, max_plate_nesting: int) -> pyro.infer.ELBO:
    """Trace_ELBO: Monte Carlo estimate of every term, reparameterized gradients."""
    return pyro.infer.Trace_ELBO(
        num_particles=num_particles,
        vectorize_particles=vectorize and num_particles > 1,
        max_plate_nesting=max_plate_nesting,
    )


@ELBOS.register("meanfield")
def meanfield_elbo(num_particles: int, vectorize: bool, max_plate_nesting: int) -> pyro.infer.ELBO:
    """TraceMeanField_ELBO: analytic KL(q(z|x) || p(z)) where available, Monte Carlo otherwise."""
    return pyro.infer.TraceMeanField_ELBO(
        num_particles=num_particles,
        vectorize_particles=vectorize and num_particles > 1,
        max_plate_nesting=max_plate_nesting,
    )


def make_elbo(
    name: str, num_particles: int = 1, vectorize: bool = True, max_plate_nesting: int = 1
) -> pyro.infer.ELBO:
    """The ELBO registered as ``name``."""
    factory: ElboFactory = ELBOS.get(name)
    return factory(num_particles, vectorize, max_plate_nesting)
