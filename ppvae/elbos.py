"""ELBO estimators by name: ``trace`` (Monte Carlo KL), ``meanfield`` (analytic KL),
``iwae`` (the importance-weighted bound of Burda et al. 2015), ``iwae_dreg`` (the same bound
with the doubly reparameterized gradient of Tucker et al. 2018), ``enum`` and
``enum_meanfield`` (enumeration with analytic KL terms)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pyro.infer
import torch
from pyro import poutine
from pyro.distributions import TorchDistribution
from pyro.distributions.kl import kl_divergence
from pyro.infer.enum import get_importance_trace
from pyro.infer.util import get_dependent_plate_dims, torch_sum
from pyro.poutine.messenger import Messenger
from pyro.poutine.util import site_is_subsample
from torch.func import functional_call

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


class IWAE_ELBO(pyro.infer.ELBO):
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

    def _get_trace(self, model, guide, args, kwargs):
        return get_importance_trace("flat", self.max_plate_nesting, model, guide, args, kwargs)

    def log_weights(self, model, guide, *args, **kwargs) -> torch.Tensor:
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
        if not isinstance(log_w, torch.Tensor) or log_w.dim() == 0:
            raise ConfigError("iwae found no latent or observed sites to weigh")
        if self.num_particles == 1:  # Pyro adds no particle plate for a single particle
            log_w = log_w.unsqueeze(0)
        return log_w

    def differentiable_loss(self, model, guide, *args, **kwargs) -> torch.Tensor:
        log_w = self.log_weights(model, guide, *args, **kwargs)
        bound = torch.logsumexp(log_w, dim=0) - math.log(self.num_particles)
        return -bound.sum()

    def loss(self, model, guide, *args, **kwargs) -> float:
        with torch.no_grad():
            return self.differentiable_loss(model, guide, *args, **kwargs).item()

    def loss_and_grads(self, model, guide, *args, **kwargs) -> float:
        loss = self.differentiable_loss(model, guide, *args, **kwargs)
        loss.backward()
        return loss.item()


def _sum_sites(trace: poutine.Trace, sum_dims: set[int]) -> torch.Tensor | float:
    total: torch.Tensor | float = 0.0
    for site in trace.nodes.values():
        if site["type"] == "sample" and not site_is_subsample(site):
            total = total + torch_sum(site["log_prob"], sum_dims)
    return total


class DReG_IWAE_ELBO(IWAE_ELBO):
    """The IWAE bound with the doubly reparameterized gradient (DReG, Tucker et al. 2018).

    The loss value is the IWAE bound's. The model's gradient is IWAE's,
    ``sum_k w_k grad log p(x, z_k)`` with ``w`` the normalized importance weights; the
    guide's is ``sum_k w_k^2 d log w_k / d z_k * d z_k / d phi``, where ``log q`` is read
    with the guide's parameters held fixed: the score-function term, zero in expectation,
    is left out. Unbiased, with much lower variance than IWAE's guide gradient as K grows.
    Needs a reparameterized guide, and model and guide as torch modules (their
    parameters tell the two gradients apart).
    """

    @staticmethod
    def guide_weights(w: torch.Tensor) -> torch.Tensor:
        """The weights of the guide's pathwise terms: ``w^2`` (``w`` would be the biased
        "sticking the landing" IWAE gradient)."""
        return w * w

    def differentiable_loss(self, model, guide, *args, **kwargs) -> torch.Tensor:
        if not torch.is_grad_enabled():
            return super().differentiable_loss(model, guide, *args, **kwargs)
        if not (isinstance(model, torch.nn.Module) and isinstance(guide, torch.nn.Module)):
            raise ConfigError("iwae_dreg needs the model and the guide as torch modules")
        (model_trace, guide_trace), = self._get_traces(model, guide, args, kwargs)
        sites = [s for s in model_trace.nodes.values()
                 if s["type"] == "sample" and not site_is_subsample(s)]
        sum_dims = get_dependent_plate_dims(sites)
        fixed = {k: v.detach() for k, v in guide.named_parameters()}

        def fixed_guide(*a: Any, **k: Any) -> Any:
            return functional_call(guide, fixed, a, k)

        held = poutine.trace(poutine.replay(self._vectorized_num_particles(fixed_guide),
                                            trace=guide_trace)).get_trace(*args, **kwargs)
        held.compute_log_prob()
        log_w = _sum_sites(model_trace, sum_dims) - _sum_sites(held, sum_dims)
        if not isinstance(log_w, torch.Tensor) or log_w.dim() == 0:
            raise ConfigError("iwae_dreg found no latent or observed sites to weigh")
        if self.num_particles == 1:
            log_w = log_w.unsqueeze(0)
        loss = -(torch.logsumexp(log_w, dim=0) - math.log(self.num_particles)).sum()
        w = torch.softmax(log_w.detach(), dim=0)
        theta = [p for p in model.parameters() if p.requires_grad]
        ids = {id(p) for p in theta}
        phi = [p for p in guide.parameters() if p.requires_grad and id(p) not in ids]
        g_theta = torch.autograd.grad(-(w * log_w).sum(), theta, retain_graph=True,
                                      allow_unused=True)
        g_phi = torch.autograd.grad(-(self.guide_weights(w) * log_w).sum(), phi,
                                    allow_unused=True)
        surrogate = sum(((p * g).sum() for p, g in zip([*theta, *phi], [*g_theta, *g_phi],
                                                        strict=True) if g is not None),
                        loss.new_zeros(()))
        return loss.detach() + surrogate - surrogate.detach()


@ELBOS.register("enum")
def enum_elbo(num_particles: int, vectorize: bool, max_plate_nesting: int) -> pyro.infer.ELBO:
    """TraceEnum_ELBO: discrete guide sites marked for enumeration are summed out exactly."""
    return pyro.infer.TraceEnum_ELBO(
        **_particles(num_particles, vectorize, max_plate_nesting),
        strict_enumeration_warning=False,
    )


class _MinusKL(TorchDistribution):
    """Stands in for a model site's prior ``p``: its log-density at the guide's draw ``z`` is
    ``log q(z) - KL(q || p)``, so that the site's share of ``log p - log q`` is ``-KL``."""

    arg_constraints: dict[str, Any] = {}

    def __init__(self, q: TorchDistribution, kl: torch.Tensor) -> None:
        self.q, self.kl = q, kl
        super().__init__(torch.broadcast_shapes(q.batch_shape, kl.shape), q.event_shape,
                         validate_args=False)

    @property
    def support(self) -> Any:
        return self.q.support

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        return self.q.log_prob(value) - self.kl


class _AnalyticKL(Messenger):
    """On the model's latent sites, swaps the prior for :class:`_MinusKL` where the guide's
    site (read from ``guide_run``'s trace) is reparameterized, not enumerated, and
    ``KL(q || p)`` has a closed form; and where that keeps the bound: the guide draws ``z``
    after every latent site the model draws before it (which ``p`` may depend on), and no
    site before it is enumerated in the model alone (summed inside a log). Other sites keep
    the one-draw estimate."""

    def __init__(self, guide_run: poutine.trace_messenger.TraceHandler) -> None:
        super().__init__()
        self.guide_run = guide_run
        self.seen: list[str] = []  # the model's latent sites so far, in order
        self.summed = False  # whether the model enumerated a site of its own so far

    def __enter__(self) -> _AnalyticKL:
        self.seen, self.summed = [], False
        return super().__enter__()

    def _pyro_sample(self, msg: Any) -> None:
        if msg["is_observed"] or site_is_subsample(msg):
            return
        nodes = self.guide_run.msngr.trace.nodes
        site: Any = nodes.get(msg["name"])
        before, self.seen = self.seen, [*self.seen, msg["name"]]
        if site is None:
            self.summed = self.summed or bool(msg["infer"].get("enumerate"))
            return
        if (self.summed or site["type"] != "sample" or site["infer"].get("enumerate")
                or not getattr(site["fn"], "has_rsample", False)):
            return
        order = [n for n, s in nodes.items() if s["type"] == "sample"]
        drawn_before = set(order[:order.index(msg["name"])])
        if any(n in nodes and n not in drawn_before for n in before):
            return  # p may depend on a latent that the guide draws given z
        try:
            kl = kl_divergence(site["fn"], msg["fn"])
        except NotImplementedError:
            return
        msg["fn"] = _MinusKL(site["fn"], kl)


class EnumMeanField_ELBO(pyro.infer.TraceEnum_ELBO):
    """TraceEnum_ELBO whose reparameterized latent sites count ``-KL(q || p)`` in closed
    form, where one is known and the guide's order allows it (:class:`_AnalyticKL`), instead
    of the one-draw estimate ``log p(z) - log q(z)``: the same bound, in expectation over
    the enumerated and the remaining sampled sites, with lower variance (TraceMeanField_ELBO's
    analytic KL, for guides that enumerate)."""

    def _get_trace(self, model, guide, args, kwargs):
        guide_run = poutine.trace(guide)
        return super()._get_trace(_AnalyticKL(guide_run)(model), guide_run, args, kwargs)


@ELBOS.register("enum_meanfield")
def enum_meanfield_elbo(num_particles: int, vectorize: bool, max_plate_nesting: int
                        ) -> pyro.infer.ELBO:
    """TraceEnum_ELBO with analytic KL(q(z|x, y) || p(z)) where available (as ``meanfield``)."""
    return EnumMeanField_ELBO(
        **_particles(num_particles, vectorize, max_plate_nesting),
        strict_enumeration_warning=False,
    )


@ELBOS.register("iwae")
def iwae_elbo(num_particles: int, _vectorize: bool, max_plate_nesting: int) -> pyro.infer.ELBO:
    """IWAE bound with K = num_particles importance samples per example (vectorized)."""
    return IWAE_ELBO(num_particles=num_particles, max_plate_nesting=max_plate_nesting)


@ELBOS.register("iwae_dreg")
def iwae_dreg_elbo(num_particles: int, _vectorize: bool, max_plate_nesting: int
                   ) -> pyro.infer.ELBO:
    """IWAE bound, K = num_particles, with the doubly reparameterized gradient (DReG)."""
    return DReG_IWAE_ELBO(num_particles=num_particles, max_plate_nesting=max_plate_nesting)


ENUMERATES = {"enum", "enum_meanfield"}  # ELBOs that sum out enumerated guide sites
# ELBOs that need every guide site reparameterized
NEEDS_RSAMPLE = {"meanfield", "iwae", "iwae_dreg"}


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
