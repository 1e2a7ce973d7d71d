"""Datasets: shapes, ranges, seeded splits, dynamic binarization, the toy's true density."""

from __future__ import annotations

import math

import pytest
import torch

from ppvae.config import Component
from ppvae.data import data_root, load_data
from ppvae.data.frey import FreyOptions
from ppvae.data.mnist import MNISTOptions
from ppvae.data.toy2d import Toy2dOptions
from ppvae.errors import ConfigError


def test_mnist_grey(data_dir):
    d = load_data(Component("mnist", MNISTOptions()), data_dir)
    assert d.x_train.shape == (60000, 784) and d.x_test.shape == (10000, 784)
    assert d.x_train.dtype == torch.float32
    assert 0.0 <= d.x_train.min() and d.x_train.max() <= 1.0
    assert set(d.y_test.unique().tolist()) == set(range(10))
    assert torch.equal(d.train_epoch(torch.Generator()), d.x_train)


def test_mnist_dynamic_binarization(data_dir):
    opts = MNISTOptions(pixels="binarized", n_train=500, n_test=200)
    d = load_data(Component("mnist", opts), data_dir)
    again = load_data(Component("mnist", opts), data_dir)
    assert torch.equal(d.x_test, again.x_test), "test binarization must be fixed by its seed"
    assert set(d.x_test.unique().tolist()) <= {0.0, 1.0}
    g = torch.Generator().manual_seed(0)
    e1, e2 = d.train_epoch(g), d.train_epoch(g)
    assert set(e1.unique().tolist()) <= {0.0, 1.0}
    assert not torch.equal(e1, e2), "each epoch draws a fresh binarization"
    # the draws are Bernoulli(grey level): their mean matches the grey levels
    assert abs(e1.mean().item() - d.x_train.mean().item()) < 0.01


def test_mnist_hold_out_leaves_out_the_last_training_images(data_dir):
    full = load_data(Component("mnist", MNISTOptions(n_train=500, n_test=10)), data_dir)
    kept = load_data(Component("mnist", MNISTOptions(n_train=500, n_test=10, hold_out=120)),
                     data_dir)
    assert kept.x_train.shape == (380, 784)
    assert torch.equal(kept.x_train, full.x_train[:380])
    assert torch.equal(kept.y_train, full.y_train[:380])
    assert torch.equal(kept.x_test, full.x_test)
    everything = load_data(Component("mnist", MNISTOptions(n_test=10, hold_out=10000)), data_dir)
    assert everything.x_train.shape == (50000, 784)


@pytest.mark.parametrize(("n_train", "hold_out"), [(500, 500), (None, 60000), (500, -1)])
def test_mnist_hold_out_out_of_range_is_refused(n_train, hold_out):
    with pytest.raises(ConfigError, match="data.hold_out must be in 0.."):
        MNISTOptions(n_train=n_train, hold_out=hold_out).validate()


def test_frey(data_dir):
    d = load_data(Component("frey", FreyOptions()), data_dir)
    assert d.x_train.shape == (1765, 560) and d.x_test.shape == (200, 560)
    assert d.spec.image_shape == (28, 20)
    assert 8 / 255 - 1e-6 <= d.x_train.min() and d.x_train.max() <= 238 / 255 + 1e-6
    other = load_data(Component("frey", FreyOptions(split_seed=1)), data_dir)
    assert not torch.equal(d.x_test, other.x_test)


def test_toy2d_is_seeded_and_any_size():
    a = load_data(Component("toy2d", Toy2dOptions(n_train=123, n_test=7)))
    b = load_data(Component("toy2d", Toy2dOptions(n_train=123, n_test=7)))
    assert a.x_train.shape == (123, 2) and a.x_test.shape == (7, 2)
    assert torch.equal(a.x_train, b.x_train)
    c = load_data(Component("toy2d", Toy2dOptions(n_train=123, n_test=7, seed=1)))
    assert not torch.equal(a.x_train, c.x_train)


def test_data_root_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("PPVAE_DATA_DIR", str(tmp_path / "env"))
    assert data_root(tmp_path / "flag") == tmp_path / "flag"
    assert data_root() == tmp_path / "env"
    monkeypatch.delenv("PPVAE_DATA_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert data_root() == tmp_path / "cache" / "ppvae" / "data"


def test_toy2d_test_set_does_not_depend_on_n_train():
    a = load_data(Component("toy2d", Toy2dOptions(n_train=100, n_test=50)))
    b = load_data(Component("toy2d", Toy2dOptions(n_train=300, n_test=50)))
    assert torch.equal(a.x_test, b.x_test)


def test_toy2d_true_log_density_against_brute_force_and_refinement():
    import math

    from ppvae.data.toy2d import _log_integrand, sample_toy2d, toy2d_log_density

    x, z = sample_toy2d(300, torch.Generator().manual_seed(3))
    lp = toy2d_log_density(x)
    # points away from the origin: a plain fine grid over z agrees
    sel = (z > 0.3).nonzero()[:10, 0]
    grid = (torch.arange(400_000, dtype=torch.float64) + 0.5) / 400_000
    brute = torch.logsumexp(_log_integrand(x[sel].double(), grid.expand(len(sel), -1), 0.1),
                            dim=1) - math.log(len(grid))
    torch.testing.assert_close(lp[sel].double(), brute, atol=1e-5, rtol=0)
    # everywhere, including tiny z where the peak is ~1e-11 wide: refining changes nothing
    finer = toy2d_log_density(x, coarse=8000, fine=40001)
    torch.testing.assert_close(lp, finer, atol=1e-5, rtol=0)
    assert torch.isfinite(lp).all()


def test_toy_gap_by_latent_adds_up():
    """The per-bin contributions of the toy benchmark sum to the mean gap; shares to one."""
    from benchmarks.toy2d_truth import gap_by_latent

    z = torch.tensor([0.0, 0.01, 0.05, 0.2, 0.5, 0.7, 1.0])
    gap = torch.tensor([5.0, 3.0, 2.0, 1.0, 0.0, -1.0, 0.5])
    rows = gap_by_latent(gap, z)
    assert [r["share"] for r in rows] == pytest.approx([2 / 7, 1 / 7, 1 / 7, 1 / 7, 2 / 7])
    assert abs(sum(r["contribution"] for r in rows) - float(gap.mean())) < 1e-6
    assert rows[0]["mean_gap"] == 4.0 and rows[-1]["mean_gap"] == -0.25


def test_toy_ideal_decoder_has_the_true_density():
    """A N(0, 1) latent through the benchmark's exact decoder gives the toy's density."""
    from benchmarks.toy2d_truth import ideal_decoder
    from ppvae.data.toy2d import sample_toy2d, toy2d_log_density

    x, t = sample_toy2d(40, torch.Generator().manual_seed(3))
    x = x[t > 0.3].double()  # away from the origin, where a plain grid resolves the integrand
    assert x.shape[0] >= 2
    z = torch.linspace(-8.0, 8.0, 400_001, dtype=torch.float64)
    loc, sd = ideal_decoder(z, 0.1)
    log_prior = torch.distributions.Normal(0.0, 1.0).log_prob(z)
    d2 = ((x[:, None, :] - loc[None]) ** 2).sum(-1)
    log_lik = -d2 / (2 * sd**2) - 2 * sd.log() - math.log(2 * math.pi)
    marginal = torch.logsumexp(log_prior + log_lik, dim=1) + math.log(float(z[1] - z[0]))
    torch.testing.assert_close(marginal, toy2d_log_density(x), atol=1e-4, rtol=0)


def test_toy_latent_sign_finds_a_reflected_decoder():
    """A decoder that runs along the curve the other way is compared at -z."""
    from benchmarks.toy2d_truth import ideal_decoder, latent_sign

    assert latent_sign(lambda z: ideal_decoder(z, 0.1)[0], 0.1) == 1.0
    assert latent_sign(lambda z: ideal_decoder(-z, 0.1)[0], 0.1) == -1.0
