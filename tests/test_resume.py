"""An interrupted run resumes from its last checkpoint and ends where an uninterrupted one does."""

from __future__ import annotations

import json

import pytest
import torch

from ppvae import fit, load
from ppvae.cli import main
from ppvae.train import SilentHooks
from tests.conftest import REPO

CFG = {
    "name": "resume",
    "data": {"name": "toy2d", "n_train": 300, "n_test": 100},
    "model": {"name": "vae", "z_dim": 1, "hidden": [16], "likelihood": "gaussian",
              "mean": "identity", "min_scale": 0.001},
    "guide": {"name": "normal", "z_dim": 1, "hidden": [16]},
    "train": {"epochs": 4, "batch_size": 64, "lr": 0.01},
}


class Interrupt(SilentHooks):
    """Raise KeyboardInterrupt in the middle of an epoch."""

    def __init__(self, epoch: int) -> None:
        self.epoch, self.current = epoch, 0

    def epoch_start(self, epoch: int, epochs: int, steps: int) -> None:
        self.current = epoch

    def step(self, loss_per_example: float) -> None:
        if self.current == self.epoch:
            raise KeyboardInterrupt


def strip(metrics):
    return [{k: v for k, v in m.items() if k != "seconds"} for m in metrics]


@pytest.mark.parametrize("warmup", [0, 4])
def test_resume_matches_uninterrupted_run(tmp_path, warmup):
    cfg = {**CFG, "train": {**CFG["train"], "kl_warmup": warmup}}
    full = fit(cfg, out=tmp_path / "full")
    out = tmp_path / "cut"
    with pytest.raises(KeyboardInterrupt):
        fit(cfg, out=out, hooks=Interrupt(epoch=3))
    assert torch.load(out / "checkpoint.pt", weights_only=True)["epoch"] == 2
    assert not list(out.glob(".*.tmp")), "a temporary checkpoint was left behind"
    resumed = fit(cfg, out=out, resume=True)
    assert strip(resumed.metrics) == strip(full.metrics)
    if warmup:  # the resumed run goes on with the third warm-up epoch, then the full bound
        assert [m.get("kl_weight") for m in resumed.metrics] == [0.25, 0.5, 0.75, None]
    got, want = resumed.model.state_dict(), full.model.state_dict()
    for name in want:
        torch.testing.assert_close(got[name], want[name], rtol=0, atol=0)
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3, 4]


@pytest.mark.usefixtures("data_dir")
def test_cli_resume_extends_a_run(tmp_path):
    out = tmp_path / "run"
    base = ["--out", str(out), "--no-progress", "--set", "data.n_train=300"]
    assert main(["train", "--config", str(REPO / "configs" / "toy2d.toml"), "--epochs", "1",
                 *base]) == 0
    assert main(["train", "--resume", "--epochs", "2", *base]) == 0
    assert [m["epoch"] for m in load(out).metrics] == [1, 2]


@pytest.mark.parametrize(("override", "message"), [
    ("model.hidden=[8]", "trained with another data/model/guide config"),
    ("train.kl_warmup=4", "trained with train.kl_warmup = 0"),
])
def test_resume_refuses_another_model_or_warmup(tmp_path, capsys, override, message):
    out = tmp_path / "run"
    fit({**CFG, "train": {**CFG["train"], "epochs": 1}}, out=out)
    rc = main(["train", "--resume", "--out", str(out), "--set", override])
    assert rc == 2
    assert message in capsys.readouterr().err
