"""CUDA against the CPU (run only where a CUDA GPU is present; reported as not run elsewhere)."""

from __future__ import annotations

import pyro
import pytest
import torch

from ppvae import fit, load
from ppvae.config import load_config
from ppvae.data.base import DataSpec
from ppvae.elbos import make_elbo
from ppvae.guides import NormalGuideOptions
from ppvae.models import VAE, VAEOptions
from ppvae.pair import Pair, checked
from tests.conftest import REPO

pytestmark = pytest.mark.gpu


def test_a_fixed_batch_has_the_same_loss_on_cuda_and_cpu():
    from tests.delta_plugin import DeltaGuide  # registers a guide: conftest undoes that

    spec = DataSpec(x_dim=784)
    pyro.set_rng_seed(0)
    pair = Pair(VAE(VAEOptions(z_dim=20, hidden=(200,)), spec),
                DeltaGuide(NormalGuideOptions(z_dim=20, hidden=(200,)), spec))
    x = torch.rand(64, 784, generator=torch.Generator().manual_seed(1)).bernoulli()
    pair = checked(pair, x)
    elbo = make_elbo("trace")
    cpu = elbo.differentiable_loss(pair.model, pair.guide, x)
    pair.to("cuda")
    gpu = elbo.differentiable_loss(pair.model, pair.guide, x.cuda())
    assert gpu.device.type == "cuda"
    assert float(gpu) == pytest.approx(float(cpu), rel=1e-4)


def test_an_epoch_on_cuda_matches_the_cpu_and_loads_on_the_cpu(tmp_path, data_dir, monkeypatch):
    monkeypatch.setenv("PPVAE_DATA_DIR", str(data_dir))
    cfg = load_config(REPO / "configs" / "mnist_z50.toml", ["train.epochs=1"])
    cpu = fit(cfg.replace(["train.device=cpu"]), out=tmp_path / "cpu")
    gpu = fit(cfg.replace(["train.device=cuda"]), out=tmp_path / "cuda")
    assert gpu.device.type == "cuda"
    assert gpu.metrics[0]["test_elbo"] == pytest.approx(cpu.metrics[0]["test_elbo"], abs=0.5)
    state = torch.load(tmp_path / "cuda" / "checkpoint.pt", map_location="meta",
                       weights_only=True)
    assert state["model"]  # readable; every tensor was saved from the CPU:
    raw = torch.load(tmp_path / "cuda" / "checkpoint.pt", weights_only=True)
    assert all(v.device.type == "cpu" for v in raw["model"].values())
    run = load(tmp_path / "cuda", device="cpu")
    assert run.device.type == "cpu"
    result = run.evaluate(k=10, n=200, data_dir=data_dir)
    assert result["device"] == "cpu"
    assert result["test_elbo"] == pytest.approx(gpu.metrics[0]["test_elbo"], abs=2.0)


def test_log_likelihood_and_figures_run_on_cuda(tmp_path, data_dir, monkeypatch):
    from ppvae.cli import main

    monkeypatch.setenv("PPVAE_DATA_DIR", str(data_dir))
    cfg = load_config(REPO / "configs" / "mnist_z2.toml",
                      ["train.epochs=1", "train.device=cuda", "data.n_train=2000"])
    fit(cfg, out=tmp_path / "r")
    assert main(["evaluate", str(tmp_path / "r"), "--k", "50", "--n", "100",
                 "--device", "cuda", "--no-progress"]) == 0
    for cmd in ("sample", "reconstruct", "manifold", "embed"):
        png = tmp_path / f"{cmd}.png"
        assert main([cmd, str(tmp_path / "r"), "--device", "cuda", "--out", str(png)]) == 0
        assert png.stat().st_size > 1000



@pytest.mark.parametrize("binarized", [False, True])
def test_per_step_labelled_draws_are_the_same_on_cuda(binarized):
    from tests.test_m2 import _objective

    cpu = _objective("step", binarized=binarized)[0]
    gpu = _objective("step", binarized=binarized, device="cuda")[0]
    for _ in range(3):
        (xc, yc), (xg, yg) = cpu._labelled(lambda r: r), gpu._labelled(lambda r: r)
        assert xg.device.type == "cuda" and yg.device.type == "cuda"
        torch.testing.assert_close(xg.cpu(), xc)
        assert torch.equal(yg.cpu(), yc)
