"""ppvae's loss on a fixed batch equals the ELBO formula written out by hand.

Pins the objective so speed work cannot change it: Bernoulli log-likelihood by logits,
plus the analytic KL (``meanfield``) or the one-sample log q - log p (``trace``).
"""

from __future__ import annotations

import math

import pyro
import pytest
import torch
from torch.nn import functional as F

from ppvae.data.base import DataSpec
from ppvae.elbos import make_elbo
from ppvae.guides import NormalGuide, NormalGuideOptions
from ppvae.models import VAE, VAEOptions
from ppvae.objectives import ElboObjective
from ppvae.pair import Pair


def by_hand(pair: Pair, x: torch.Tensor, eps: torch.Tensor, analytic_kl: bool) -> torch.Tensor:
    g, m = pair.guide, pair.model
    h = g.encoder(x)
    loc, scale = g.loc(h), g.log_scale(h).exp()
    z = loc + scale * eps
    logits = m.head.logits(m.decoder(z))
    nll = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
    if analytic_kl:
        kl = (0.5 * (loc**2 + scale**2 - 1) - scale.log()).sum()
    else:
        log_q = (-0.5 * eps**2 - scale.log() - 0.5 * math.log(2 * math.pi)).sum()
        log_p = (-0.5 * z**2 - 0.5 * math.log(2 * math.pi)).sum()
        kl = log_q - log_p
    return nll + kl


@pytest.mark.parametrize(("elbo", "analytic"), [("trace", False), ("meanfield", True)])
def test_loss_equals_formula(elbo, analytic):
    spec = DataSpec(x_dim=20)
    pair = Pair(VAE(VAEOptions(z_dim=3, hidden=(7,)), spec),
                NormalGuide(NormalGuideOptions(z_dim=3, hidden=(5,)), spec))
    x = torch.rand(9, 20)
    objective = ElboObjective(make_elbo(elbo))
    pyro.set_rng_seed(123)
    loss = objective(pair.model, pair.guide, x, None)
    pyro.set_rng_seed(123)
    eps = torch.randn(9, 3)  # the guide's only random draw: z = loc + scale * eps
    expected = by_hand(pair, x, eps, analytic)
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-4)
    # and the gradients agree too
    g1 = torch.autograd.grad(loss, pair.guide.loc.weight)[0]
    g2 = torch.autograd.grad(by_hand(pair, x, eps, analytic), pair.guide.loc.weight)[0]
    torch.testing.assert_close(g1, g2, rtol=1e-4, atol=1e-4)


def test_evaluation_path_equals_formula():
    """Without autograd the Bernoulli log-likelihood takes its two-pass form: same values."""
    spec = DataSpec(x_dim=20)
    pair = Pair(VAE(VAEOptions(z_dim=3, hidden=(7,)), spec),
                NormalGuide(NormalGuideOptions(z_dim=3, hidden=(5,)), spec))
    x = torch.rand(9, 20)
    objective = ElboObjective(make_elbo("meanfield"))
    pyro.set_rng_seed(5)
    with torch.no_grad():
        loss = objective(pair.model, pair.guide, x, None)
    pyro.set_rng_seed(5)
    expected = by_hand(pair, x, torch.randn(9, 3), analytic_kl=True)
    torch.testing.assert_close(loss, expected.detach(), rtol=1e-5, atol=1e-4)


def test_logit_bernoulli_paths_agree():
    """Both log_prob forms agree, including extreme logits and broadcast values."""
    from ppvae.likelihoods import LogitBernoulli

    logits = torch.tensor([-80.0, -20.0, -1.0, 0.0, 1.5, 20.0, 80.0]).expand(3, 2, 7)
    value = torch.tensor([[0.0, 1.0, 0.3, 1.0, 0.0, 1.0, 0.0]])
    d = LogitBernoulli(logits=logits, validate_args=False)
    with torch.no_grad():
        fast = d.log_prob(value)
    slow = d.log_prob(value)
    assert fast.shape == slow.shape == (3, 2, 7)
    assert torch.isfinite(fast).all()
    torch.testing.assert_close(fast, slow)
    wide = LogitBernoulli(logits=logits[0, 0], validate_args=False)  # value has more dims
    with torch.no_grad():
        fast = wide.log_prob(value.expand(4, 7))
    assert fast.shape == (4, 7)
    torch.testing.assert_close(fast, wide.log_prob(value.expand(4, 7)))


def test_speed_loglik_swaps_and_restores_the_bernoulli_form():
    """The log p(x) benchmark's comparison form is Pyro's, and it is put back afterwards."""
    import pyro.distributions as dist

    from benchmarks.speed_loglik import pyro_bernoulli_form
    from ppvae.likelihoods import LogitBernoulli

    fast = LogitBernoulli.log_prob
    d = LogitBernoulli(logits=torch.randn(5, 7), validate_args=False)
    value = torch.bernoulli(torch.full((5, 7), 0.4))
    with torch.no_grad():
        with pyro_bernoulli_form():
            assert LogitBernoulli.log_prob is dist.Bernoulli.log_prob
            slow = d.log_prob(value)
        assert LogitBernoulli.log_prob is fast
        torch.testing.assert_close(d.log_prob(value), slow)
