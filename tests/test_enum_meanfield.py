"""``enum_meanfield``: enumeration with analytic KL terms, against explicit sums and ``enum``."""

from __future__ import annotations

import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from torch.nn import functional as F

from ppvae.elbos import check_elbo, make_elbo
from tests.test_m2 import small_m2


def explicit_loss(pair, x: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """-ELBO of M2 summed over the classes by hand, with KL(q(z|x,y) || N(0, I)) in closed form."""
    g, m = pair.guide, pair.model
    logq_y = F.log_softmax(g.classify(x), -1)
    elbo = -(logq_y.exp() * logq_y).sum(-1)
    for c in range(logq_y.shape[-1]):
        yc = torch.full((x.shape[0],), c)
        h = g.encoder(x, yc)
        loc, scale = g.loc(h), g.log_scale(h).exp()
        z = loc + scale * eps[c]
        logits = m.head.logits(m.decoder(z, yc))
        log_px = -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)
        kl = (0.5 * (loc ** 2 + scale ** 2 - 1) - scale.log()).sum(-1)
        elbo = elbo + logq_y[:, c].exp() * (log_px + math.log(1 / logq_y.shape[-1]) - kl)
    return -elbo.sum()


def test_value_and_gradient_equal_the_explicit_sum_with_analytic_kl():
    pair = small_m2()
    x = (torch.rand(5, 12, generator=torch.Generator().manual_seed(1)) < 0.5).float()
    params = list(pair.parameters())
    pyro.set_rng_seed(7)
    loss = make_elbo("enum_meanfield").differentiable_loss(pair.model, pair.guide, x)
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    pyro.set_rng_seed(7)
    want = explicit_loss(pair, x, torch.randn(4, 5, 3))
    want_grads = torch.autograd.grad(want, params, allow_unused=True)
    torch.testing.assert_close(loss, want, rtol=1e-5, atol=1e-4)
    for got, exp in zip(grads, want_grads, strict=True):
        if exp is None:
            assert got is None or not got.any()
        else:
            torch.testing.assert_close(got, exp, rtol=1e-4, atol=1e-5)


@pytest.mark.slow  # 800 draws of the loss
def test_same_mean_as_enum_with_lower_variance():
    pair = small_m2()
    x = (torch.rand(16, 12, generator=torch.Generator().manual_seed(2)) < 0.5).float()
    draws = {}
    pyro.set_rng_seed(0)
    with torch.no_grad():
        for name in ("enum", "enum_meanfield"):
            elbo = make_elbo(name)
            draws[name] = torch.tensor([elbo.loss(pair.model, pair.guide, x) for _ in range(400)])
    mc, an = draws["enum"], draws["enum_meanfield"]
    se = (mc.var() / len(mc) + an.var() / len(an)).sqrt()
    assert abs(mc.mean() - an.mean()) < 4 * se
    assert an.var() < 0.5 * mc.var()  # the prior's and the guide's log-densities no longer drawn


def test_labelled_rows_use_the_closed_form_too():
    pair = small_m2()
    x = (torch.rand(6, 12, generator=torch.Generator().manual_seed(3)) < 0.5).float()
    y = torch.tensor([0, 1, 2, 3, 0, 1])
    pyro.set_rng_seed(5)
    loss = make_elbo("enum_meanfield").loss(pair.model, pair.guide, x, y)
    pyro.set_rng_seed(5)
    eps = torch.randn(6, 3)
    g, m = pair.guide, pair.model
    h = g.encoder(x, y)
    loc, scale = g.loc(h), g.log_scale(h).exp()
    logits = m.head.logits(m.decoder(loc + scale * eps, y))
    log_px = -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)
    kl = (0.5 * (loc ** 2 + scale ** 2 - 1) - scale.log()).sum(-1)
    want = -(log_px + math.log(1 / 4) - kl).sum()
    assert math.isclose(loss, want.item(), rel_tol=1e-5)


def student_model(x: torch.Tensor) -> None:
    with pyro.plate("data", x.shape[0]):
        z = pyro.sample("z", dist.StudentT(3.0, x.new_zeros(2), 1.0).to_event(1))
        pyro.sample("x", dist.Normal(z.sum(-1), 1.0), obs=x)


def normal_guide(x: torch.Tensor) -> None:
    with pyro.plate("data", x.shape[0]):
        pyro.sample("z", dist.Normal(x[:, None].expand(-1, 2) / 2, 0.5).to_event(1))


def test_without_a_closed_form_the_site_is_estimated_as_by_trace():
    x = torch.linspace(-1, 1, 7)
    pyro.set_rng_seed(3)
    got = make_elbo("enum_meanfield").loss(student_model, normal_guide, x)
    pyro.set_rng_seed(3)
    want = make_elbo("trace").loss(student_model, normal_guide, x)
    assert math.isclose(got, want, rel_tol=1e-6)
    pyro.set_rng_seed(3)
    assert math.isclose(got, make_elbo("enum").loss(student_model, normal_guide, x), rel_tol=1e-6)


def test_normal_prior_matches_meanfield():
    def model(x: torch.Tensor) -> None:
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(x.new_zeros(2), 1.0).to_event(1))
            pyro.sample("x", dist.Normal(z.sum(-1), 1.0), obs=x)

    x = torch.linspace(-1, 1, 7)
    pyro.set_rng_seed(4)
    got = make_elbo("enum_meanfield").loss(model, normal_guide, x)
    pyro.set_rng_seed(4)
    want = make_elbo("meanfield").loss(model, normal_guide, x)
    pyro.set_rng_seed(4)
    mc = make_elbo("enum").loss(model, normal_guide, x)
    assert math.isclose(got, want, rel_tol=1e-6)
    assert got != mc  # negative control: the one-draw estimate differs


def test_enum_meanfield_accepts_enumerated_guides():
    check_elbo("enum_meanfield", ("y",), ())


def bottom_up_model(x: torch.Tensor) -> None:
    with pyro.plate("data", x.shape[0]):
        b = pyro.sample("b", dist.Normal(x.new_zeros(()), 1.0))
        a = pyro.sample("a", dist.Normal(b, 1.0))
        pyro.sample("x", dist.Normal(a, 1.0), obs=x)


def bottom_up_guide(x: torch.Tensor) -> None:
    """Draws a, then b given a: the model's prior at a depends on b, drawn after a."""
    with pyro.plate("data", x.shape[0]):
        a = pyro.sample("a", dist.Normal(x / 2, 0.8))
        pyro.sample("b", dist.Normal(a / 2, 0.9))


def test_a_prior_depending_on_a_later_guide_draw_keeps_the_bound():
    """KL(q(a) || p(a | b)) at a drawn b would be biased (by about 0.25 nats here) since the
    guide draws b given a; that site keeps the one-draw estimate, b's KL is closed-form."""
    x = torch.tensor([0.5, -1.0])
    pyro.set_rng_seed(0)
    with torch.no_grad():
        got = make_elbo("enum_meanfield", 100_000, True, 1).loss(bottom_up_model,
                                                                  bottom_up_guide, x)
        want = make_elbo("trace", 100_000, True, 1).loss(bottom_up_model, bottom_up_guide, x)
    assert abs(got - want) < 0.03


def model_enumerated_model(x: torch.Tensor) -> None:
    with pyro.plate("data", x.shape[0]):
        y = pyro.sample("y", dist.Categorical(logits=x.new_zeros(2)),
                        infer={"enumerate": "parallel"})
        z = pyro.sample("z", dist.Normal(torch.tensor([-2.0, 2.0])[y], 1.0))
        pyro.sample("x", dist.Normal(z, 1.0), obs=x)


def z_guide(x: torch.Tensor) -> None:
    with pyro.plate("data", x.shape[0]):
        pyro.sample("z", dist.Normal(x / 2, 0.7))


def test_a_prior_depending_on_a_site_the_model_sums_out_is_not_swapped():
    """p(z) = sum_y p(y) p(z|y) enters the bound inside a log: no closed-form KL there."""
    x = torch.tensor([0.5, -1.0, 3.0])
    pyro.set_rng_seed(6)
    got = make_elbo("enum_meanfield").loss(model_enumerated_model, z_guide, x)
    pyro.set_rng_seed(6)
    want = make_elbo("enum").loss(model_enumerated_model, z_guide, x)
    assert got == want


@pytest.mark.parametrize(("particles", "vectorize"), [(1, True), (3, True), (3, False)])
def test_particles_give_the_explicit_sum_when_the_guide_draws_its_mean(particles, vectorize):
    """With q(z|x, y) narrowed to its mean the bound has no randomness left: every particle
    setting gives the explicit sum over the classes."""
    pair = small_m2()
    with torch.no_grad():
        pair.guide.log_scale.weight.zero_()
        pair.guide.log_scale.bias.fill_(-12.0)
    x = (torch.rand(5, 12, generator=torch.Generator().manual_seed(4)) < 0.5).float()
    got = make_elbo("enum_meanfield", particles, vectorize, 1).loss(pair.model, pair.guide, x)
    want = explicit_loss(pair, x, torch.zeros(4, 5, 3)).item()
    assert math.isclose(got, want, rel_tol=1e-4)
