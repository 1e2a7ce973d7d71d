"""The importance-sampled log p(x) against a linear-Gaussian model's exact marginal."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import MultivariateNormal

from ppvae.data.base import DataSpec
from ppvae.elbos import make_elbo
from ppvae.evaluation import elbo_per_example
from ppvae.guides import NormalGuide, NormalGuideOptions
from ppvae.loglik import log_likelihood
from ppvae.models import VAE, VAEOptions
from ppvae.pair import Pair, checked

SIGMA = 0.3


def linear_gaussian(z_dim: int, x_dim: int = 3) -> tuple[Pair, torch.Tensor, torch.Tensor]:
    """x = W z + b + N(0, SIGMA^2 I): a VAE with no hidden layer and fixed variance."""
    spec = DataSpec(x_dim=x_dim)
    model = VAE(VAEOptions(z_dim=z_dim, hidden=(), likelihood="gaussian_fixed",
                           mean="identity", fixed_scale=SIGMA), spec)
    guide = NormalGuide(NormalGuideOptions(z_dim=z_dim, hidden=()), spec)
    pair = Pair(model, guide)
    W = model.head.loc.weight.detach()
    b = model.head.loc.bias.detach()
    return checked(pair, torch.zeros(2, x_dim)), W, b


def exact_log_px(x: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    cov = W @ W.T + SIGMA**2 * torch.eye(W.shape[0])
    return MultivariateNormal(b, covariance_matrix=cov).log_prob(x)


def set_posterior_guide(pair: Pair, W: torch.Tensor, b: torch.Tensor) -> None:
    """Guide = exact posterior mean; std = sqrt of the posterior covariance's diagonal (the
    exact posterior for a 1-d latent, a diagonal approximation of it otherwise)."""
    prec = torch.eye(W.shape[1]) + W.T @ W / SIGMA**2
    cov = torch.linalg.inv(prec)
    A = cov @ W.T / SIGMA**2
    with torch.no_grad():
        pair.guide.loc.weight.copy_(A)
        pair.guide.loc.bias.copy_(-A @ b)
        pair.guide.log_scale.weight.zero_()
        std = cov.diagonal().sqrt()
        pair.guide.log_scale.bias.copy_(std.log())


def test_exact_posterior_gives_exact_log_px_with_uneven_chunks():
    pair, W, b = linear_gaussian(z_dim=1)
    set_posterior_guide(pair, W, b)
    x = torch.randn(11, 3)
    lp, elbo = log_likelihood(pair, x, k=7, budget=10)  # chunks of 1 example x 7 draws
    exact = exact_log_px(x, W, b)
    torch.testing.assert_close(lp, exact, atol=1e-4, rtol=0)
    torch.testing.assert_close(elbo, exact, atol=1e-4, rtol=0)
    # at the exact posterior every Trace_ELBO sample equals log p(x); 11 = 3 + 3 + 3 + 2
    per_example = elbo_per_example(make_elbo("trace"), pair, x, 3)
    assert per_example == pytest.approx(exact.mean().item(), abs=1e-4)
    # the analytic-KL estimator is unbiased but not exact per sample
    xs = x.repeat(200, 1)
    per_example = elbo_per_example(make_elbo("meanfield"), pair, xs, 7)
    assert per_example == pytest.approx(exact.mean().item(), abs=0.05)


def test_importance_sampling_converges_and_bounds_the_elbo():
    torch.manual_seed(3)
    pair, W, b = linear_gaussian(z_dim=2)
    set_posterior_guide(pair, W, b)  # correlated posterior, diagonal guide
    with torch.no_grad():
        pair.guide.log_scale.bias.add_(0.3)  # and a wider one
    x = torch.randn(200, 3) * 2
    exact = exact_log_px(x, W, b)
    lp1, elbo = log_likelihood(pair, x, k=1)
    lp, _ = log_likelihood(pair, x, k=2000, budget=50_000)
    gap_elbo = (exact - elbo).mean().item()
    assert gap_elbo > 0.05, "the test needs a guide that is not the exact posterior"
    assert lp.mean() >= elbo.mean()
    assert abs((lp - exact).mean().item()) < 0.02
    assert (lp - exact).abs().max().item() < 0.1
    assert abs((lp1 - elbo).mean().item()) < 1e-5  # k=1 is the one-sample ELBO
    assert math.isfinite(lp.sum().item())


def test_k_must_be_positive():
    pair, _, _ = linear_gaussian(z_dim=1)
    with pytest.raises(ValueError, match="k must be >= 1"):
        log_likelihood(pair, torch.zeros(2, 3), k=0)


def test_iwae_bound_is_exact_at_the_posterior_and_tightens_with_k():
    from ppvae.elbos import IWAE_ELBO

    pair, W, b = linear_gaussian(z_dim=1)
    set_posterior_guide(pair, W, b)
    x = torch.randn(13, 3)
    exact = exact_log_px(x, W, b)
    for k in (1, 7):
        loss = IWAE_ELBO(num_particles=k).differentiable_loss(pair.model, pair.guide, x)
        assert -loss.item() == pytest.approx(exact.sum().item(), abs=1e-3)

    torch.manual_seed(5)
    pair, W, b = linear_gaussian(z_dim=2)
    set_posterior_guide(pair, W, b)
    with torch.no_grad():
        pair.guide.log_scale.bias.add_(0.5)
    x = torch.randn(400, 3) * 2
    exact = exact_log_px(x, W, b).mean().item()
    bounds = {k: -IWAE_ELBO(num_particles=k).loss(pair.model, pair.guide, x) / len(x)
              for k in (1, 10, 100, 2000)}
    torch.manual_seed(9)
    k1 = -IWAE_ELBO(num_particles=1).loss(pair.model, pair.guide, x) / len(x)
    torch.manual_seed(9)
    elbo = elbo_per_example(make_elbo("trace"), pair, x, 400)
    assert k1 == pytest.approx(elbo, abs=1e-3)  # K = 1 is the ELBO, draw for draw
    assert bounds[1] < bounds[10] < bounds[100] < bounds[2000] <= exact + 0.01
    assert exact - bounds[2000] < 0.05


def test_iwae_gradient_is_per_example():
    """The bound is a sum over examples of per-example log-mean-exps, not one over the batch."""
    from ppvae.elbos import IWAE_ELBO

    pair, W, b = linear_gaussian(z_dim=2)
    x = torch.randn(6, 3)
    elbo = IWAE_ELBO(num_particles=4)
    torch.manual_seed(0)
    lw = elbo.log_weights(pair.model, pair.guide, x)
    assert lw.shape == (4, 6)
    torch.manual_seed(0)
    loss = elbo.differentiable_loss(pair.model, pair.guide, x)
    expected = -(torch.logsumexp(lw, 0) - math.log(4)).sum()
    torch.testing.assert_close(loss, expected)
