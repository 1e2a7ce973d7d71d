"""Numbers the trainer gave before its redesign, and run folders in that code's format.

``tests/pinned.json`` holds the metrics of a 2-epoch VAE run and a 2-epoch M2 run (with
parameter averaging), recorded with the trainer as it was before the objective protocol.
Today's trainer must give the same numbers, and resume a folder of the first format
(checkpoints without checksum, device or kernel entries, no previous checkpoint) to them.
"""

from __future__ import annotations

import json

import pytest
import torch

from ppvae import fit, load
from ppvae.train import SilentHooks
from tests.conftest import REPO

PINNED = json.loads((REPO / "tests" / "pinned.json").read_text())
FIRST_FORMAT = {"format", "epoch", "model", "guide", "optim", "rng", "gen", "config",
                "data_source", "metrics", "objective", "live", "average"}


def strip(metrics):
    return [{k: v for k, v in m.items() if k != "seconds"} for m in metrics]


def assert_same_metrics(got, want):
    assert [m["epoch"] for m in got] == [m["epoch"] for m in want]
    for g, w in zip(strip(got), want, strict=True):
        assert set(g) == set(w)
        for key, value in w.items():
            if key.endswith("_error"):  # fractions of a few hundred images
                assert g[key] == pytest.approx(value, abs=1.5 / 300), key
            else:
                assert g[key] == pytest.approx(value, rel=1e-5), key


def param_abs_sum(run):
    return sum(float(p.detach().double().abs().sum()) for p in run.pair.parameters())


def with_cpu(cfg):
    return {**cfg, "train": {**cfg["train"], "device": "cpu"}}


class StopAtEpoch2(SilentHooks):
    def epoch_start(self, epoch: int, epochs: int, steps: int) -> None:
        if epoch == 2:
            raise KeyboardInterrupt


def first_format_folder(cfg, out):
    """The run stopped after epoch 1, its files rewritten as the first format had them."""
    with pytest.raises(KeyboardInterrupt):
        fit(cfg, out=out, hooks=StopAtEpoch2())
    (out / "checkpoint.prev.pt").unlink(missing_ok=True)
    for name in ("checkpoint.pt", "best.pt"):
        if (out / name).is_file():
            state = torch.load(out / name, weights_only=True)
            old = {k: v for k, v in state.items() if k in FIRST_FORMAT}
            if not old.get("objective"):
                old.pop("objective", None)  # the first format saved none for the ELBO
            torch.save(old, out / name)


@pytest.mark.parametrize("name", ["pin_vae", "pin_m2"])
def test_metrics_are_those_of_the_trainer_before_the_redesign(name, tmp_path, data_dir,
                                                              monkeypatch):
    monkeypatch.setenv("PPVAE_DATA_DIR", str(data_dir))
    pin = PINNED[name]
    run = fit(with_cpu(pin["config"]), out=tmp_path / name)
    assert_same_metrics(run.metrics, pin["metrics"])
    assert param_abs_sum(run) == pytest.approx(pin["param_abs_sum"], rel=1e-5)


@pytest.mark.parametrize("name", ["pin_vae", "pin_m2"])
def test_run_folders_of_the_first_format_load_and_resume(name, tmp_path, data_dir,
                                                                 monkeypatch):
    monkeypatch.setenv("PPVAE_DATA_DIR", str(data_dir))
    out = tmp_path / name
    first_format_folder(with_cpu(PINNED[name]["config"]), out)
    assert [m["epoch"] for m in load(out).metrics] == [1]
    run = fit(with_cpu(PINNED[name]["config"]), out=out, resume=True)
    assert_same_metrics(run.metrics, PINNED[name]["metrics"])
    assert param_abs_sum(run) == pytest.approx(PINNED[name]["param_abs_sum"], rel=1e-5)
    assert [m["epoch"] for m in load(out).metrics] == [1, 2]
