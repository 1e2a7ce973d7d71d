"""Shared fixtures: a clean Pyro state per test and the data root (never skipped)."""

from __future__ import annotations

import sys
from pathlib import Path

import pyro
import pytest
import torch

from ppvae.data.base import data_root
from ppvae.registry import DATASETS, ELBOS, GUIDES, MODELS

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def restore_registries():
    """What a test registers, itself or by importing a plugin, is unregistered after it; the
    plugin modules that registered it are forgotten, so that importing them again
    registers again."""
    saved = [(reg, reg.snapshot()) for reg in (MODELS, GUIDES, ELBOS, DATASETS)]
    before = set(sys.modules)
    yield
    for reg, snapshot in saved:
        for entry in reg.restore(snapshot):
            module = getattr(entry.obj, "__module__", "") or ""
            if module not in before:  # imported by this test: a plugin, forgotten again
                sys.modules.pop(module, None)


@pytest.fixture(autouse=True)
def clean_pyro_state():
    """Each test starts with an empty param store and a fixed seed."""
    pyro.clear_param_store()
    pyro.set_rng_seed(0)
    yield
    pyro.clear_param_store()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The data folder every command reads: $PPVAE_DATA_DIR, else the user cache."""
    root = data_root()
    missing = [p for p in ("MNIST/raw/train-images-idx3-ubyte", "FreyFace/frey_rawface.mat")
               if not (root / p).is_file()]
    if missing:
        pytest.fail(f"test data missing under {root}: {missing}; set PPVAE_DATA_DIR")
    return root


@pytest.fixture()
def offline(monkeypatch):
    """No downloads."""
    monkeypatch.setenv("PPVAE_OFFLINE", "1")


def small_batch(x_dim: int = 6, n: int = 8) -> torch.Tensor:
    """Values in (0, 1), good for Bernoulli soft targets and Gaussians alike."""
    return torch.rand(n, x_dim, generator=torch.Generator().manual_seed(1))


def fixed_pair(x: torch.Tensor):
    """A small Bernoulli VAE pair for ``x`` (6 columns) with fixed weights, the store cleared."""
    from ppvae.data.base import DataSpec
    from ppvae.guides import NormalGuide, NormalGuideOptions
    from ppvae.models import VAE, VAEOptions
    from ppvae.pair import Pair, checked

    spec = DataSpec(x_dim=6)
    pyro.clear_param_store()  # PyroModules read their parameters through it
    pair = checked(Pair(VAE(VAEOptions(z_dim=3, hidden=(8,)), spec),
                        NormalGuide(NormalGuideOptions(z_dim=3, hidden=(8,)), spec)), x)
    weights = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in pair.parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=weights))
    return pair


def tiny_m2_run(out: Path, data_dir: Path, *sets: str) -> Path:
    """A one-epoch M2 run on 20 labelled MNIST images (600 training, 100 test and 100
    validation images, 8 hidden units), ``--set`` overrides ``sets`` added; returns ``out``."""
    from ppvae.cli import main as ppvae_main

    overrides = ["data.n_train=600", "data.n_test=100", "semi.n_valid=100", "model.hidden=[8]",
                 "guide.hidden=[8]", "guide.classifier_hidden=[8]", *sets]
    argv = ["ssl", "--config", str(REPO / "configs" / "m2_mnist.toml"), "--labels", "20",
            "--epochs", "1", "--data-dir", str(data_dir), "--no-progress", "--out", str(out)]
    for o in overrides:
        argv += ["--set", o]
    if ppvae_main(argv) != 0:
        raise RuntimeError(f"the tiny M2 run into {out} failed")
    return out


def pytest_collection_modifyitems(config, items):
    """GPU tests are not run without CUDA: deselected, and said so in the summary."""
    if torch.cuda.is_available():
        return
    gpu = [item for item in items if item.get_closest_marker("gpu")]
    if gpu:
        items[:] = [item for item in items if not item.get_closest_marker("gpu")]
        config.hook.pytest_deselected(items=gpu)
        config._ppvae_gpu_not_run = [item.nodeid for item in gpu]


def pytest_terminal_summary(terminalreporter, config):
    not_run = getattr(config, "_ppvae_gpu_not_run", [])
    if not_run:
        terminalreporter.section("GPU tests not run")
        terminalreporter.write_line(
            f"{len(not_run)} test(s) marked gpu were NOT RUN: this machine has no CUDA GPU "
            "(torch.cuda.is_available() is False). Run them on a GPU with: "
            "python -m pytest -m gpu")
        for nodeid in not_run:
            terminalreporter.write_line(f"  not run: {nodeid}")
