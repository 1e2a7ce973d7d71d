"""The weights under ``pretrained/`` load by their folder names and give the numbers their
runs recorded at the exported epoch."""

from __future__ import annotations

import shutil

import pytest

from ppvae import load
from ppvae.cli import main
from tests.conftest import REPO


@pytest.fixture()
def pretrained(tmp_path, monkeypatch):
    """A copy of ``pretrained/`` to work in (evaluating writes beside the run; exports name
    their feature VAE relative to the folder above ``pretrained/``)."""
    shutil.copytree(REPO / "pretrained", tmp_path / "pretrained")
    monkeypatch.chdir(tmp_path)
    return tmp_path / "pretrained"


@pytest.mark.slow  # the 10,000 test images
@pytest.mark.usefixtures("pretrained")
@pytest.mark.parametrize("name", ["m1m2_mnist_l100", "m1m2_logvar_l100"])
def test_the_pretrained_m1m2_classifiers_give_their_recorded_test_error(name, data_dir, capsys):
    run = load(f"pretrained/{name}")
    rows = [m for m in run.metrics if "test_error" in m]
    best = min(rows, key=lambda m: (m["valid_error"], m["epoch"]))  # what best.pt holds
    assert run.metrics[-1]["epoch"] == best["epoch"]
    data = run.load_data(data_dir)
    error = (run.predict(data.x_test) != data.y_test).float().mean().item()
    assert error == pytest.approx(best["test_error"], abs=2.5e-4)  # 2 near-ties may flip
    assert error < 0.06  # trained with 100 labels; chance is 0.9
    assert main(["evaluate", f"pretrained/{name}", "--k", "1", "--no-progress",
                 "--data-dir", str(data_dir)]) == 0
    line = next(s for s in capsys.readouterr().out.splitlines() if s.startswith("test error"))
    assert f"{100 * error:.2f}%" in line


def test_every_pretrained_file_is_under_1_mib():
    files = [f for f in (REPO / "pretrained").rglob("*") if f.is_file()]
    assert files and all(f.stat().st_size < 2**20 for f in files), max(
        files, key=lambda f: f.stat().st_size)


@pytest.mark.slow  # the 10,000 test images
@pytest.mark.usefixtures("pretrained")
def test_the_pretrained_burda_vae_gives_its_recorded_test_elbo(data_dir):
    run = load("pretrained/mnist_vae_burda")
    last = run.metrics[-1]
    assert last["epoch"] == run.config.train.epochs == 3280
    out = run.evaluate(k=2, data_dir=data_dir)
    assert out["n_test"] == 10_000
    # one draw of z per image: the recorded and the new estimate differ by Monte Carlo noise
    assert out["test_elbo"] == pytest.approx(last["test_elbo"], abs=0.2)
    assert out["test_elbo"] > -92  # a trained VAE; an untrained one is below -500
