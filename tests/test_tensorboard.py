"""TensorBoard logs read back: the scalars are metrics.jsonl, pictures at the asked epochs,
a resumed run appends without logging a step twice, and the trainer's numbers do not change."""

from __future__ import annotations

import builtins

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from ppvae import fit, load
from ppvae.cli import main
from ppvae.train import SilentHooks
from tests.conftest import REPO

CFG = {"name": "tb", "data": {"name": "toy2d", "n_train": 300, "n_test": 100},
       "model": {"name": "vae", "z_dim": 1, "hidden": [8], "likelihood": "gaussian",
                 "mean": "identity", "min_scale": 0.01},
       "guide": {"name": "normal", "z_dim": 1, "hidden": [8]},
       "train": {"epochs": 5, "batch_size": 64, "lr": 0.01, "device": "cpu",
                 "tensorboard": True, "image_every": 2}}


def events(run_dir) -> EventAccumulator:
    acc = EventAccumulator(str(run_dir / "tb"), size_guidance={"images": 0, "scalars": 0})
    acc.Reload()
    return acc


def assert_scalars_are_the_metrics(run_dir) -> EventAccumulator:
    acc = events(run_dir)
    metrics = load(run_dir).metrics
    for key in ("train_elbo", "test_elbo", "lr", "seconds"):
        logged = acc.Scalars(key)
        assert [e.step for e in logged] == [m["epoch"] for m in metrics], key
        for e, m in zip(logged, metrics, strict=True):
            assert e.value == pytest.approx(m[key], rel=1e-6), key
    return acc


class StopAt(SilentHooks):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def epoch_start(self, epoch: int, epochs: int, steps: int) -> None:
        if epoch == self.epoch:
            raise KeyboardInterrupt


def test_logs_are_the_metrics_with_pictures_and_resume_appends(tmp_path):
    full = fit(CFG, out=tmp_path / "full")
    acc = assert_scalars_are_the_metrics(tmp_path / "full")
    assert [e.step for e in acc.Images("samples")] == [2, 4, 5]  # every 2nd and the last
    plain = fit({**CFG, "train": {**CFG["train"], "tensorboard": False}}, out=tmp_path / "no")
    strip = [{k: v for k, v in m.items() if k != "seconds"} for m in full.metrics]
    assert strip == [{k: v for k, v in m.items() if k != "seconds"} for m in plain.metrics]
    assert not (tmp_path / "no" / "tb").exists()
    # killed in epoch 4 after logging epochs 1-3; the resume logs 4 and 5 once each
    cut = tmp_path / "cut"
    with pytest.raises(KeyboardInterrupt):
        fit(CFG, out=cut, hooks=StopAt(4))
    fit(CFG, out=cut, resume=True)
    acc = assert_scalars_are_the_metrics(cut)
    assert [e.step for e in acc.Images("samples")] == [2, 4, 5]
    assert acc.Scalars("final/test_elbo")[0].value == pytest.approx(
        load(cut).metrics[-1]["test_elbo"], rel=1e-6)  # hparams with the final metrics


def test_cli_flag_images_of_mnist_and_a_missing_package(tmp_path, data_dir, monkeypatch, capsys):
    out = tmp_path / "m"
    assert main(["train", "--config", str(REPO / "configs" / "mnist_z2.toml"), "--tensorboard",
                 "--epochs", "1", "--set", "data.n_train=500", "--set", "data.n_test=100",
                 "--set", "model.hidden=[16]", "--set", "guide.hidden=[16]",
                 "--data-dir", str(data_dir), "--out", str(out), "--no-progress"]) == 0
    acc = assert_scalars_are_the_metrics(out)
    for tag in ("samples", "reconstructions", "manifold"):
        assert [e.step for e in acc.Images(tag)] == [1], tag
    real_import = builtins.__import__

    def no_tensorboard(name, *args, **kwargs):
        if name.startswith("torch.utils.tensorboard"):
            raise ImportError("No module named 'tensorboard'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    rc = main(["train", "--config", str(REPO / "configs" / "toy2d.toml"), "--tensorboard",
               "--out", str(tmp_path / "r"), "--no-progress"])
    assert rc == 2
    assert 'pip install "ppvae[tensorboard]"' in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
