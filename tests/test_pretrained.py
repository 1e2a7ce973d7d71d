"""The shipped pretrained runs load without unpickling, read their data, and give the test
error their metrics record (a known answer for the weights, the features and the code
together)."""

from __future__ import annotations

import json

import pytest
import torch

from ppvae import load
from ppvae.rundir import RunDir
from ppvae.weightsfile import load_tensors
from tests.conftest import REPO

FOLDERS = sorted(p for p in (REPO / "pretrained").glob("*") if (p / "run.json").is_file())


def test_there_are_pretrained_runs():
    assert any(p.name == "m1m2_l100_s0" for p in FOLDERS)


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_a_pretrained_run_gives_its_recorded_test_error(folder, data_dir, monkeypatch):
    monkeypatch.chdir(REPO)  # runs name their feature VAE relative to the repository root
    assert not list(folder.rglob("*.pt"))  # weights only, as safetensors files
    _, metadata = load_tensors(folder / "weights.safetensors")
    assert not {"optim", "rng", "gen"} & set(json.loads(metadata["ppvae"]))
    run = load(folder.relative_to(REPO))
    epoch = int(RunDir(folder).load()["epoch"])
    recorded = next(m for m in run.metrics if m["epoch"] == epoch)
    data = run.load_data(data_dir)
    if "test_error" in recorded:  # a classifier: its exact test error, in mistakes
        wrong = (run.predict(data.x_test) != data.y_test).sum().item()
        assert wrong == round(recorded["test_error"] * len(data.y_test))
    else:  # a VAE: its test bound, one draw per image (standard error ~0.05 nats)
        torch.manual_seed(0)
        got = run.evaluate(k=1, data=data)["test_elbo"]
        assert got == pytest.approx(recorded["test_elbo"], abs=0.3)
