"""Device plumbing, exercised on the CPU: names, refusals, moves and loading elsewhere."""

from __future__ import annotations

import pytest
import torch

from ppvae import fit, load
from ppvae.cli import main
from ppvae.config import TrainConfig
from ppvae.distributed import Context, resolve_device
from ppvae.errors import ConfigError
from tests.conftest import REPO

TOY = str(REPO / "configs" / "toy2d.toml")
CFG = {"name": "dev", "data": {"name": "toy2d", "n_train": 200, "n_test": 50},
       "model": {"name": "vae", "z_dim": 1, "hidden": [8], "likelihood": "gaussian",
                 "mean": "identity", "min_scale": 0.01},
       "guide": {"name": "normal", "z_dim": 1, "hidden": [8]},
       "train": {"epochs": 1, "batch_size": 50, "device": "cpu"}}


@pytest.fixture()
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.mark.usefixtures("no_cuda")
def test_device_names():
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")
    for spec in ("cuda", "cuda:0"):
        with pytest.raises(ConfigError, match="no usable CUDA GPU"):
            resolve_device(spec)
    with pytest.raises(ConfigError, match="unknown device 'tpu'"):
        resolve_device("tpu")
    for bad in ("gpu", "cuda:x", "cuda:"):
        with pytest.raises(ConfigError, match="train.device must be auto, cpu, cuda or cuda:N"):
            TrainConfig(device=bad).validate()


@pytest.mark.usefixtures("no_cuda")
def test_cuda_without_a_gpu_is_exit_2_before_anything_is_written(tmp_path, capsys):
    out = tmp_path / "r"
    rc = main(["train", "--config", TOY, "--device", "cuda", "--epochs", "1",
               "--set", "data.n_train=100", "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "no usable CUDA GPU" in err and "--device cpu" in err
    assert not out.exists()
    fit(CFG, out=out)
    rc = main(["evaluate", str(out), "--device", "cuda", "--k", "2"])
    assert rc == 2 and "no usable CUDA GPU" in capsys.readouterr().err


def test_runs_load_and_evaluate_on_the_device_asked_for(tmp_path, capsys):
    out = tmp_path / "r"
    fit({**CFG, "train": {**CFG["train"], "device": "auto"}}, out=out)
    run = load(out, device="cpu")
    assert run.device == torch.device("cpu")
    data = run.load_data()
    assert data.x_test.device == run.device
    result = run.evaluate(k=3, n=20)
    assert result["device"] == "cpu" and result["n_test"] == 20
    assert main(["evaluate", str(out), "--device", "cpu", "--k", "2", "--n", "10",
                 "--no-progress"]) == 0
    assert "min on cpu" in capsys.readouterr().out


def test_data_move_and_sharding():
    from ppvae.config import from_dict
    from ppvae.data import load_data

    data = load_data(from_dict(CFG).data)
    assert data.to("cpu") is data
    rows = torch.arange(7)
    shares = [Context(rank, 3).shard(rows).tolist() for rank in range(3)]
    assert shares == [[0, 1, 2], [3, 4], [5, 6]]
    assert Context().sum([1.5, 2]) == [1.5, 2.0]
