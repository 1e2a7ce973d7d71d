"""Every registered model x guide x ELBO either trains or is refused cleanly."""

from __future__ import annotations

import itertools

import pytest
import torch

from ppvae.data.base import DataSpec
from ppvae.elbos import check_elbo, make_elbo
from ppvae.errors import ConfigError, IncompatiblePairError
from ppvae.objectives import ElboObjective
from ppvae.pair import Pair, check_pair
from ppvae.registry import ELBOS, GUIDES, MODELS
from tests.conftest import small_batch

SPEC = DataSpec(x_dim=6, image_shape=(2, 3), num_classes=10)
COMBOS = list(itertools.product(MODELS.names(), GUIDES.names(), ELBOS.names()))
KNOWN_PAIRS = {("vae", "normal"), ("m2", "m2")}


def build(model: str, guide: str) -> Pair:
    m, g = MODELS.entry(model), GUIDES.entry(guide)
    return Pair(m.obj(m.config(), SPEC), g.obj(g.config(), SPEC))


@pytest.mark.parametrize(("model", "guide", "elbo"), COMBOS, ids=["-".join(c) for c in COMBOS])
def test_pair_contract(model, guide, elbo):
    pair = build(model, guide)
    x = small_batch(SPEC.x_dim)
    try:
        nesting = check_pair(pair, x)
    except IncompatiblePairError:
        assert (model, guide) not in KNOWN_PAIRS
        return
    try:
        check_elbo(elbo, pair.enumerated, pair.not_reparameterized)
    except ConfigError as exc:  # a clean refusal, naming the ELBO to use instead
        assert "Use " in str(exc)
        return
    objective = ElboObjective(make_elbo(elbo, 2, True, nesting))
    params = pair.parameters()
    optim = torch.optim.Adam(params, lr=3e-3)  # 1e-2 overshoots the z = 50 default at step 1
    losses = []
    for step in range(60):
        loss = objective(pair.model, pair.guide, x, None)
        assert loss.shape == () and torch.isfinite(loss)
        optim.zero_grad()
        loss.backward()
        if step == 0:
            no_grad = [i for i, p in enumerate(params) if p.grad is None]
            assert not no_grad, f"parameters without gradient: {no_grad}"
        optim.step()
        losses.append(loss.item())
    assert sum(losses[-10:]) < sum(losses[:10]), "60 SVI steps did not reduce the loss"


def test_known_pairs_are_registered():
    for model, guide in KNOWN_PAIRS:
        assert model in MODELS and guide in GUIDES


def test_guide_with_other_z_dim_is_refused():
    m, g = MODELS.entry("vae"), GUIDES.entry("normal")
    pair = Pair(m.obj(m.config(z_dim=4), SPEC), g.obj(g.config(z_dim=3), SPEC))
    with pytest.raises(IncompatiblePairError, match=r"latent site 'z': model shape \(7, 4\) but"):
        check_pair(pair, small_batch(SPEC.x_dim))


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian", "gaussian_fixed"])
def test_likelihoods_give_finite_loss(likelihood):
    m, g = MODELS.entry("vae"), GUIDES.entry("normal")
    pair = Pair(m.obj(m.config(z_dim=2, likelihood=likelihood, min_scale=0.01), SPEC),
                g.obj(g.config(z_dim=2), SPEC))
    check_pair(pair, small_batch())
    loss = ElboObjective(make_elbo("trace"))(pair.model, pair.guide, small_batch(), None)
    assert torch.isfinite(loss)
