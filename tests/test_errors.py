"""Bad input gets a clear message and exit code 2; a diverging run keeps its last checkpoint."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.nn import PyroModule
from torch import nn

from ppvae import fit
from ppvae.cli import main
from ppvae.data.base import DataSpec
from ppvae.errors import DataNotFoundError, TrainingDiverged
from ppvae.registry import MODELS
from tests.conftest import REPO

TOY = str(REPO / "configs" / "toy2d.toml")


def run_cli(args, capsys):
    rc = main(args)
    return rc, capsys.readouterr().err


def test_unknown_model_exits_2_listing_valid_names(tmp_path, capsys):
    rc, err = run_cli(["train", "--config", TOY, "--set", "model.name=vea",
                       "--out", str(tmp_path / "r")], capsys)
    assert rc == 2
    assert "unknown model 'vea'; valid model names:" in err and "vae" in err


@pytest.mark.parametrize(("override", "message"), [
    ("guide.name=nrml", "unknown guide 'nrml'"),
    ("train.elbo=tracee",
     "unknown elbo 'tracee'; valid elbo names: enum, enum_meanfield, iwae, iwae_dreg, meanfield, "
     "trace"),
    ("data.name=cifar", "unknown dataset 'cifar'"),
    ("train.lrr=0.1", "unknown key 'lrr' in [train]; valid keys:"),
    ("model.zdim=3", "unknown key 'zdim' in [model]; valid keys: z_dim"),
])
def test_bad_names_and_keys_exit_2(tmp_path, capsys, override, message):
    rc, err = run_cli(["train", "--config", TOY, "--set", override,
                       "--out", str(tmp_path / "r")], capsys)
    assert rc == 2
    assert message in err


def test_mismatched_guide_is_refused_before_training(tmp_path, capsys):
    out = tmp_path / "r"
    rc, err = run_cli(["train", "--config", TOY, "--set", "guide.z_dim=3", "--out", str(out)],
                      capsys)
    assert rc == 2
    assert "latent site 'z': model shape (7, 1) but guide shape (7, 3)" in err
    assert not (out / "checkpoint.pt").exists()


def test_missing_config_file(capsys):
    rc, err = run_cli(["train", "--config", "nope.toml"], capsys)
    assert rc == 2 and "config file not found" in err


@pytest.mark.usefixtures("offline")
def test_missing_data_offline_names_files_and_folder(tmp_path, capsys):
    rc, err = run_cli(["train", "--config", str(REPO / "configs" / "mnist_z2.toml"),
                       "--data-dir", str(tmp_path), "--out", str(tmp_path / "r")], capsys)
    assert rc == 2
    assert "train-images-idx3-ubyte" in err and str(tmp_path / "MNIST" / "raw") in err
    rc, err = run_cli(["train", "--config", str(REPO / "configs" / "frey_z2.toml"),
                       "--data-dir", str(tmp_path), "--out", str(tmp_path / "r")], capsys)
    assert rc == 2
    assert "frey_rawface.mat" in err and str(tmp_path / "FreyFace") in err


@pytest.mark.usefixtures("offline")
def test_missing_data_raises_typed_error(tmp_path):
    from ppvae.config import load_config
    from ppvae.data import load_data

    with pytest.raises(DataNotFoundError):
        load_data(load_config(REPO / "configs" / "frey_z2.toml").data, tmp_path)


def test_not_a_run_folder(tmp_path, capsys):
    rc, err = run_cli(["evaluate", str(tmp_path)], capsys)
    assert rc == 2 and "is not a ppvae run folder" in err


@dataclass(frozen=True)
class NanOptions:
    """After ``after`` training forward passes the decoder returns NaN."""

    after: int = 30


class NanAfter(PyroModule):
    """A 2-D Gaussian model that breaks after a number of training steps."""

    def __init__(self, opts: NanOptions, spec: DataSpec) -> None:
        super().__init__()
        self.after = opts.after
        self.calls = 0
        self.decoder = nn.Linear(1, spec.x_dim)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> None:
        if self.training:
            self.calls += 1
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(x.new_zeros(1), 1.0).to_event(1))
            loc = self.decoder(z)
            if self.calls > self.after:
                loc = loc * float("nan")
            pyro.sample("x", dist.Normal(loc, 1.0).to_event(1), obs=x)


@pytest.fixture()
def nan_model():
    """``test_nan_after``, registered for one test (conftest unregisters it after)."""
    MODELS.register("test_nan_after", config=NanOptions)(NanAfter)


@pytest.mark.filterwarnings("ignore:Encountered NaN")
@pytest.mark.usefixtures("nan_model")
def test_nan_loss_stops_with_epoch_and_step_and_keeps_checkpoint(tmp_path):
    cfg = {
        "name": "nan",
        "data": {"name": "toy2d", "n_train": 200, "n_test": 50},
        "model": {"name": "test_nan_after", "after": 25},  # 2 checks + 10 steps an epoch
        "guide": {"name": "normal", "z_dim": 1, "hidden": [4]},
        "train": {"epochs": 5, "batch_size": 20},
    }
    out = tmp_path / "run"
    with pytest.raises(TrainingDiverged, match="epoch 3, step 4") as info:
        fit(cfg, out=out)
    assert info.value.checkpoint == str(out / "checkpoint.pt")
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert state["epoch"] == 2
    metrics = [json.loads(s) for s in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in metrics] == [1, 2]


@pytest.mark.filterwarnings("ignore:Encountered NaN")
@pytest.mark.usefixtures("nan_model")
def test_nan_with_validation_on_is_still_a_clean_stop(tmp_path):
    cfg = {
        "name": "nan",
        "data": {"name": "toy2d", "n_train": 200, "n_test": 50},
        "model": {"name": "test_nan_after", "after": 5},
        "guide": {"name": "normal", "z_dim": 1, "hidden": [4]},
        "train": {"epochs": 2, "batch_size": 20, "validate_args": True},
    }
    with pytest.raises(TrainingDiverged, match="epoch 1, step 4"):
        fit(cfg, out=tmp_path / "run")


def test_training_into_an_existing_run_is_refused(tmp_path, capsys):
    out = tmp_path / "r"
    args = ["train", "--config", TOY, "--epochs", "1", "--set", "data.n_train=100",
            "--out", str(out), "--no-progress"]
    assert main(args) == 0
    before = (out / "metrics.jsonl").read_text()
    rc, err = run_cli(args, capsys)
    assert rc == 2 and "already holds a run" in err
    assert (out / "metrics.jsonl").read_text() == before


def test_usage_errors_return_2_instead_of_exiting():
    assert main(["evaluate", "somewhere", "--k", "abc"]) == 2
    assert main(["evaluate", "somewhere", "--k", "0"]) == 2
    assert main(["frobnicate"]) == 2


def test_checkpoint_that_needs_code_to_load_is_refused(tmp_path):
    from ppvae.errors import RunError
    from ppvae.rundir import load_checkpoint

    path = tmp_path / "checkpoint.pt"
    torch.save({"model": DataSpec(x_dim=3)}, path)  # a pickled class instance
    with pytest.raises(RunError, match="weights-only"):
        load_checkpoint(path)
    torch.save({"model": {}}, path)
    with pytest.raises(RunError, match="not a ppvae checkpoint"):
        load_checkpoint(path)


def test_checkpoint_from_another_architecture_is_a_clear_error(tmp_path, capsys):
    from ppvae.rundir import atomic_save, checksum

    out = tmp_path / "run"
    fit({"name": "t", "data": {"name": "toy2d", "n_train": 100, "n_test": 20},
         "model": {"name": "vae", "z_dim": 1, "hidden": [4], "likelihood": "gaussian",
                   "mean": "identity"},
         "guide": {"name": "normal", "z_dim": 1, "hidden": [4]},
         "train": {"epochs": 1, "batch_size": 50}}, out=out)
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    state["model"] = {f"old.{k}": v for k, v in state["model"].items()}  # renamed layers
    state["checksum"] = checksum(state)
    atomic_save(state, out / "checkpoint.pt")
    rc, err = run_cli(["sample", str(out), "--out", str(tmp_path / "s.png")], capsys)
    assert rc == 2
    assert "does not fit the model and guide" in err and "Traceback" not in err


def test_burda_scaled_refuses_a_new_epoch_count_on_resume(tmp_path):
    from ppvae.errors import RunError

    cfg = {"name": "t", "data": {"name": "toy2d", "n_train": 100, "n_test": 20},
           "model": {"name": "vae", "z_dim": 1, "hidden": [4], "likelihood": "gaussian",
                     "mean": "identity"},
           "guide": {"name": "normal", "z_dim": 1, "hidden": [4]},
           "train": {"epochs": 2, "batch_size": 50, "lr_schedule": "burda_scaled"}}
    out = tmp_path / "run"
    fit(cfg, out=out)
    cfg["train"]["epochs"] = 4
    with pytest.raises(RunError, match="burda_scaled"):
        fit(cfg, out=out, resume=True)


def test_resume_without_checkpoint_and_confusion_without_labels(tmp_path, capsys):
    from ppvae.errors import RunError

    rc, err = run_cli(["train", "--resume", "--out", str(tmp_path / "none")], capsys)
    assert rc == 2 and "is not a ppvae run folder" in err
    cfg = {"name": "t", "data": {"name": "toy2d", "n_train": 100, "n_test": 20},
         "model": {"name": "vae", "z_dim": 1, "hidden": [4], "likelihood": "gaussian",
                   "mean": "identity"},
         "guide": {"name": "normal", "z_dim": 1, "hidden": [4]},
         "train": {"epochs": 1, "batch_size": 50}}
    with pytest.raises(RunError, match="nothing to resume"):
        fit(cfg, out=tmp_path / "empty", resume=True)
    out = tmp_path / "run"
    fit(cfg, out=out)
    rc, err = run_cli(["confusion", str(out)], capsys)
    assert rc == 2 and "semi-supervised run" in err
