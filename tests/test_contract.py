"""Every registered model x guide x ELBO either trains or is refused cleanly."""

from __future__ import annotations

import itertools

import pytest
import torch

from ppvae.data.base import DataSpec
from ppvae.elbos import check_elbo, make_elbo
from ppvae.errors import ConfigError, IncompatiblePairError
from ppvae.objectives import ElboObjective
from ppvae.pair import Pair, check_pair, checked
from ppvae.registry import ELBOS, GUIDES, MODELS
from tests.conftest import small_batch

SPEC = DataSpec(x_dim=6, image_shape=(2, 3), num_classes=10)
# the built-in names, listed here so that names registered by other test modules never
# change this table; test_the_table_covers_every_built_in_name keeps it complete
BUILT_IN = {"models": ("m2", "vae"), "guides": ("m2", "normal"),
            "elbos": ("enum", "enum_meanfield", "iwae", "iwae_dreg", "meanfield", "trace")}
COMBOS = list(itertools.product(BUILT_IN["models"], BUILT_IN["guides"], BUILT_IN["elbos"]))
KNOWN_PAIRS = {("vae", "normal"), ("m2", "m2")}


def expected(model: str, guide: str, elbo: str) -> str:
    """What each combination must do: train, or be refused as a pair or for its ELBO."""
    if (model, guide) not in KNOWN_PAIRS:
        return "pair refused"
    if guide == "m2" and not elbo.startswith("enum"):  # an enumerated label site needs enumeration
        return "elbo refused"
    return "trains"


def build(model: str, guide: str) -> Pair:
    m, g = MODELS.entry(model), GUIDES.entry(guide)
    return Pair(m.obj(m.config(), SPEC), g.obj(g.config(), SPEC))


@pytest.mark.parametrize(("model", "guide", "elbo"), COMBOS, ids=["-".join(c) for c in COMBOS])
def test_pair_contract(model, guide, elbo):
    pair = build(model, guide)
    x = small_batch(SPEC.x_dim)
    want = expected(model, guide, elbo)
    if want == "pair refused":
        with pytest.raises(IncompatiblePairError):
            check_pair(pair, x)
        return
    info = check_pair(pair, x)
    if want == "elbo refused":  # a clean refusal, naming the ELBO to use instead
        with pytest.raises(ConfigError, match="Use elbo = 'enum'"):
            check_elbo(elbo, info.enumerated, info.not_reparameterized)
        return
    check_elbo(elbo, info.enumerated, info.not_reparameterized)
    objective = ElboObjective(make_elbo(elbo, 2, True, info.max_plate_nesting))
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


def test_the_table_covers_every_built_in_name():
    import ppvae.elbos
    import ppvae.guides
    import ppvae.models

    for kind, registry, module in (("models", MODELS, ppvae.models),
                                   ("guides", GUIDES, ppvae.guides),
                                   ("elbos", ELBOS, ppvae.elbos)):
        built_in = {e.name for e in registry.entries()
                    if getattr(e.obj, "__module__", "").startswith(module.__name__)}
        assert built_in == set(BUILT_IN[kind]), kind


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


def test_checking_a_pair_changes_nothing():
    pair = build("m2", "m2")
    before = (pair.max_plate_nesting, pair.enumerated, pair.not_reparameterized)
    info = check_pair(pair, small_batch(SPEC.x_dim))
    assert (pair.max_plate_nesting, pair.enumerated, pair.not_reparameterized) == before
    assert info.enumerated == ("y",) and info.max_plate_nesting == 1
    done = checked(pair, small_batch(SPEC.x_dim))
    assert done.enumerated == ("y",) and done.model is pair.model and done.guide is pair.guide
