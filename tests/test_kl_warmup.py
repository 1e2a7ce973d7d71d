"""KL warm-up (``train.kl_warmup``): the latent terms weigh epoch / warmup, the data term 1."""

from __future__ import annotations

import pyro
import pytest
import torch
from torch.distributions import Normal, kl_divergence

from ppvae.config import from_dict
from ppvae.data.base import DataSpec
from ppvae.elbos import make_elbo
from ppvae.errors import ConfigError
from ppvae.guides import NormalGuide, NormalGuideOptions
from ppvae.models import VAE, VAEOptions
from ppvae.objectives import ElboObjective
from ppvae.pair import Pair, checked


def pair_and_batch() -> tuple[Pair, torch.Tensor]:
    spec = DataSpec(x_dim=6)
    x = torch.rand(9, 6, generator=torch.Generator().manual_seed(2)).bernoulli()
    pair = Pair(VAE(VAEOptions(z_dim=3, hidden=(8,)), spec),
                NormalGuide(NormalGuideOptions(z_dim=3, hidden=(8,)), spec))
    return checked(pair, x), x


def loss_at(objective: ElboObjective, pair: Pair, x: torch.Tensor, epochs: int) -> torch.Tensor:
    objective.done = epochs - 1
    pyro.set_rng_seed(5)  # the same z draw for every weight
    return objective.loss(pair, x)


def test_meanfield_loss_is_reconstruction_plus_weighted_analytic_kl():
    pair, x = pair_and_batch()
    objective = ElboObjective(make_elbo("meanfield"), warmup=4)
    loc, scale = pair.guide.encode(x)
    kl = kl_divergence(Normal(loc, scale), Normal(0.0, 1.0)).sum()
    full = loss_at(objective, pair, x, 4)
    for epochs, weight in ((1, 0.25), (3, 0.75)):
        torch.testing.assert_close(loss_at(objective, pair, x, epochs),
                                   full - (1 - weight) * kl)


def test_trace_loss_weighs_only_the_latent_sites():
    pair, x = pair_and_batch()
    objective = ElboObjective(make_elbo("trace"), warmup=2)
    pyro.set_rng_seed(5)
    guide_tr = pyro.poutine.trace(pair.guide).get_trace(x)
    model_tr = pyro.poutine.trace(pyro.poutine.replay(pair.model, guide_tr)).get_trace(x)
    log_px = model_tr.nodes["x"]["fn"].log_prob(x).sum()
    latent = model_tr.nodes["z"]["fn"].log_prob(model_tr.nodes["z"]["value"]).sum() - \
        guide_tr.nodes["z"]["fn"].log_prob(guide_tr.nodes["z"]["value"]).sum()
    torch.testing.assert_close(loss_at(objective, pair, x, 1), -(log_px + 0.5 * latent))
    torch.testing.assert_close(loss_at(objective, pair, x, 2), -(log_px + latent))


def test_the_weight_rises_by_epoch_and_is_saved():
    objective = ElboObjective(make_elbo("meanfield"), warmup=3)
    weights, records = [], []
    for _ in range(4):
        objective.start_epoch(torch.zeros(1))  # any number of calls: the trainer sizes with it
        objective.start_epoch(torch.zeros(1))
        weights.append(objective.kl_weight)
        records.append(objective.end_epoch(-10.0, 5))
    assert weights == [1 / 3, 2 / 3, 1.0, 1.0]
    assert records[0] == {"train_objective": 2.0, "kl_weight": 1 / 3}
    assert records[3] == {"train_elbo": 2.0}
    again = ElboObjective(make_elbo("meanfield"), warmup=3)
    again.load_state_dict(objective.state_dict())
    assert again.done == 4 and again.kl_weight == 1.0
    assert ElboObjective(make_elbo("meanfield")).state_dict() == {}  # no warm-up, no state


@pytest.mark.parametrize(("train", "semi", "message"), [
    ({"kl_warmup": -1}, None, "must be >= 0"),
    ({"kl_warmup": 5, "elbo": "iwae"}, None, "works with elbo trace or meanfield"),
    ({"kl_warmup": 5, "elbo": "nope"}, None, "unknown elbo"),
    ({"kl_warmup": 5}, {"labels": 10}, "not available with \\[semi\\]"),
])
def test_bad_warmups_are_refused(train, semi, message):
    raw = {"data": {"name": "toy2d"}, "model": {"name": "vae"}, "guide": {"name": "normal"},
           "train": train, **({"semi": semi} if semi else {})}
    with pytest.raises(ConfigError, match=message):
        from_dict(raw)


def test_the_test_bound_stays_the_full_elbo():
    from ppvae.data.base import TensorData
    from ppvae.evaluation import elbo_total

    pair, x = pair_and_batch()
    objective = ElboObjective(make_elbo("meanfield"), warmup=4)
    assert objective.kl_weight == 0.25
    data = TensorData("t", DataSpec(x_dim=6), x, x)
    pyro.set_rng_seed(1)
    got = objective.scores(pair, data, 4)["test_elbo"]
    pyro.set_rng_seed(1)
    want = -elbo_total(make_elbo("meanfield"), pair, x, 4) / x.shape[0]
    assert got == pytest.approx(want, rel=1e-6)
    pyro.set_rng_seed(1)
    weighted = -float(objective.loss(pair, x).detach()) / x.shape[0]
    assert weighted > got + 0.1  # the warm-up loss differs: the check can tell them apart


def test_semi_supervised_runs_refuse_it(tmp_path, data_dir, capsys):
    from ppvae.cli import main
    from tests.conftest import REPO

    rc = main(["ssl", "--config", str(REPO / "configs" / "m2_mnist.toml"), "--labels", "20",
               "--set", "train.kl_warmup=3", "--set", "train.elbo=trace",
               "--data-dir", str(data_dir), "--out", str(tmp_path / "r"), "--no-progress"])
    assert rc == 2 and "kl_warmup is not available with [semi]" in capsys.readouterr().err


def test_the_cli_prints_the_warm_up_epochs(tmp_path, capsys):
    from ppvae.cli import main
    from tests.conftest import REPO

    rc = main(["train", "--config", str(REPO / "configs" / "toy2d.toml"), "--epochs", "2",
               "--set", "train.kl_warmup=2", "--set", "data.n_train=200",
               "--out", str(tmp_path / "r"), "--no-progress"])
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("epoch ")]
    assert rc == 0 and len(lines) == 2
    assert "train_objective" in lines[0] and "kl_weight 0.5" in lines[0]
    assert "train ELBO" not in lines[0] and "train ELBO" in lines[1]


def test_guides_with_score_function_sites_refuse_it():
    from dataclasses import replace

    from ppvae.objectives import elbo_objective

    pair, _ = pair_and_batch()
    raw = {"data": {"name": "toy2d"}, "model": {"name": "vae"}, "guide": {"name": "normal"},
           "train": {"kl_warmup": 3}}
    cfg = from_dict(raw)
    assert elbo_objective(cfg, pair).warmup == 3
    with pytest.raises(ConfigError, match="needs reparameterized guide sites"):
        elbo_objective(cfg, replace(pair, not_reparameterized=("z",)))
