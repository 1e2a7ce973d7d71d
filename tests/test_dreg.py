"""The DReG estimator of the IWAE bound (``iwae_dreg``) against ``iwae`` on a linear-Gaussian
model: same value, same model gradient, an unbiased guide gradient with lower variance."""

from __future__ import annotations

import pyro
import pytest
import torch

from ppvae.elbos import IWAE_ELBO, DReG_IWAE_ELBO, make_elbo
from ppvae.errors import ConfigError
from ppvae.pair import Pair
from tests.test_loglik import linear_gaussian, set_posterior_guide

K = 10


def perturbed_pair() -> tuple[Pair, torch.Tensor]:
    """A 2-d linear-Gaussian model whose guide is near, not at, the best diagonal posterior
    (where training brings it, and where DReG's variance is far below IWAE's; far from it,
    with x-dependent scales, DReG's can be the larger)."""
    torch.manual_seed(0)
    pair, W, b = linear_gaussian(z_dim=2, x_dim=3)
    set_posterior_guide(pair, W, b)
    with torch.no_grad():
        for p in pair.guide.parameters():
            p.add_(0.05 * torch.randn_like(p))
    x = torch.randn(4, 3, generator=torch.Generator().manual_seed(2))
    return pair, x


def gradients(elbo, pair: Pair, x: torch.Tensor, params, seed: int) -> torch.Tensor:
    pyro.set_rng_seed(seed)
    loss = elbo.differentiable_loss(pair.model, pair.guide, x)
    return torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, params)])


class StickingTheLanding(DReG_IWAE_ELBO):
    """A negative control: the guide's weights w instead of w^2 (biased for K > 1)."""

    @staticmethod
    def guide_weights(w: torch.Tensor) -> torch.Tensor:
        return w


def test_value_and_model_gradient_are_iwae_s():
    pair, x = perturbed_pair()
    theta = list(pair.model.parameters())
    for seed in range(3):
        pyro.set_rng_seed(seed)
        iwae = IWAE_ELBO(num_particles=K).differentiable_loss(pair.model, pair.guide, x)
        pyro.set_rng_seed(seed)
        dreg = DReG_IWAE_ELBO(num_particles=K).differentiable_loss(pair.model, pair.guide, x)
        torch.testing.assert_close(dreg, iwae.detach())
        g_iwae = gradients(IWAE_ELBO(num_particles=K), pair, x, theta, seed)
        g_dreg = gradients(DReG_IWAE_ELBO(num_particles=K), pair, x, theta, seed)
        torch.testing.assert_close(g_dreg, g_iwae)
        pyro.set_rng_seed(seed)  # evaluation (no gradient): the same bound
        assert DReG_IWAE_ELBO(num_particles=K).loss(pair.model, pair.guide, x) == \
            pytest.approx(float(iwae.detach()), rel=1e-6)


def paired_draws(elbo, pair, x, draws=400):
    phi = list(pair.guide.parameters())
    ref = torch.stack([gradients(IWAE_ELBO(num_particles=K), pair, x, phi, s)
                       for s in range(draws)])
    other = torch.stack([gradients(elbo, pair, x, phi, s) for s in range(draws)])
    return ref, other


def z_scores(ref: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """Mean paired difference over its standard error, per guide parameter."""
    diff = other - ref
    return diff.mean(0) / (diff.std(0) / diff.shape[0] ** 0.5)


@pytest.mark.slow  # 1,200 gradient draws
def test_guide_gradient_is_unbiased_with_lower_variance():
    pair, x = perturbed_pair()
    ref, dreg = paired_draws(DReG_IWAE_ELBO(num_particles=K), pair, x)
    z_dreg = float(z_scores(ref, dreg).abs().max())
    ratio = float(dreg.var(0).sum() / ref.var(0).sum())
    print(f"guide gradient, K = {K}: variance DReG / IWAE {ratio:.3f}; largest |z| of the "
          f"paired mean difference {z_dreg:.2f}")
    assert z_dreg < 4.5  # same mean as IWAE's
    assert ratio < 0.5
    # negative control: the same test sees the bias of w instead of w^2
    _, stl = paired_draws(StickingTheLanding(num_particles=K), pair, x)
    z_stl = float(z_scores(ref, stl).abs().max())
    print(f"negative control (w instead of w^2): largest |z| {z_stl:.1f}")
    assert z_stl > 6


def test_iwae_dreg_by_name_trains_and_refuses_non_modules():
    pair, x = perturbed_pair()
    elbo = make_elbo("iwae_dreg", num_particles=5)
    opt = torch.optim.Adam(pair.parameters(), lr=0.01)
    first = None
    for _ in range(60):
        loss = elbo.differentiable_loss(pair.model, pair.guide, x)
        first = first if first is not None else float(loss.detach())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < first
    with pytest.raises(ConfigError, match="torch modules"):
        elbo.differentiable_loss(lambda _x: None, pair.guide, x)
