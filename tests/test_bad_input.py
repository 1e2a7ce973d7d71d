"""Bad input gets exit code 2 and a message; run folders cannot be corrupted or shared.

The table grows with every new option: each row is a command line and a piece of the
message it must print on stderr.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyro
import pyro.distributions as dist
import pytest
import torch

from ppvae import load
from ppvae.api import default_run_dir
from ppvae.cli import main
from ppvae.config import load_config
from ppvae.guides import NormalGuide
from ppvae.registry import GUIDES
from ppvae.rundir import RunDir
from tests.conftest import REPO

TOY = str(REPO / "configs" / "toy2d.toml")
M2 = str(REPO / "configs" / "m2_mnist.toml")
SMALL = ["--set", "data.n_train=200", "--set", "data.n_test=50", "--no-progress"]


class NoEventGuide(NormalGuide):
    """A guide that forgets .to_event(1): z's dimensions become batch dimensions."""

    def forward(self, x, y=None):
        with pyro.plate("data", x.shape[0]):
            loc, scale = self.encode(x)
            pyro.sample("z", dist.Normal(loc, scale))


@pytest.fixture()
def no_event_guide():
    """``test_no_event``, registered for one test (conftest unregisters it after)."""
    GUIDES.register("test_no_event", config=GUIDES.entry("normal").config)(NoEventGuide)


@pytest.fixture()
def toy_run(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--config", TOY, "--epochs", "2", "--out", str(out), *SMALL]) == 0
    return out


def cli(args, capsys) -> tuple[int, str]:
    capsys.readouterr()
    rc = main(args)
    return rc, capsys.readouterr().err


TABLE = [
    (["train", "--config", TOY, "--seed", "-1"], "train.seed must be in 0..4294967295"),
    (["train", "--config", TOY, "--seed", "4294967296"], "train.seed must be in 0..4294967295"),
    (["train", "--config", TOY, "--lr", "inf"], "train.lr must be a finite number > 0"),
    (["train", "--config", TOY, "--lr", "nan"], "train.lr must be a finite number > 0"),
    (["train", "--config", TOY, "--set", "train.adam_eps=inf"], "train.adam_eps must be a finite"),
    (["train", "--config", TOY, "--device", "tpu"], "train.device must be auto, cpu, cuda"),
    (["train", "--config", TOY, "--set", "train.image_every=0"], "train.image_every must be >= 1"),
    (["train", "--config", TOY, "--previous"], "--previous goes with --resume"),
    (["ssl", "--config", M2, "--set", "data.n_train=600", "--set", "semi.n_valid=700",
      "--labels", "10"], "semi.n_valid = 700 leaves no training images: the data have 600"),
    (["ssl", "--config", M2, "--set", "semi.label_seed=-3"], "semi.label_seed must be in 0.."),
    (["ssl", "--config", M2, "--set", "semi.label_rng=python"],
     "semi.label_rng must be one of 'torch', 'numpy'; got 'python'"),
    (["train", "--config", TOY, "--set", "data.seed=4294967296"], "data.seed must be in 0.."),
    (["ssl", "--config", M2, "--set", "data.test_binarize_seed=-1"],
     "data.test_binarize_seed must be in 0.."),
    (["train", "--config", str(REPO / "configs" / "frey_z2.toml"), "--set",
      "data.split_seed=-1"], "data.split_seed must be in 0.."),
    (["train", "--config", TOY, "--plugin", ""], "plugin '' failed to import"),
    (["train", "--config", TOY, "--plugin", ".relative"], "plugin '.relative' failed to import"),
]


@pytest.mark.parametrize(("args", "message"), TABLE, ids=[" ".join(a[2:]) for a, _ in TABLE])
def test_bad_input_is_exit_2_with_a_message(args, message, tmp_path, data_dir, capsys):
    rc, err = cli([*args, "--out", str(tmp_path / "r"), "--data-dir", str(data_dir)], capsys)
    assert rc == 2, err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_bad_files_are_exit_2_with_a_message(tmp_path, toy_run, capsys):
    config = tmp_path / "latin1.toml"
    config.write_bytes(Path(TOY).read_bytes().replace(b'"toy2d"', b'"toy2d\xe9"'))
    rc, err = cli(["train", "--config", str(config)], capsys)
    assert rc == 2 and "is not UTF-8 text" in err
    afile = tmp_path / "afile"
    afile.write_text("x")
    rc, err = cli(["train", "--config", TOY, "--out", str(afile)], capsys)
    assert rc == 2 and "is a file, not a run folder" in err
    for args, message in [
        (["sample", str(toy_run), "--out", str(tmp_path / "x.txt")], "must end in .png"),
        (["manifold", str(toy_run), "--grid", "1000"], "--grid 1000 would decode 1,000,000"),
        (["evaluate", str(toy_run), "--n", "1000000000"], "more than the run's 50 test"),
    ]:
        rc, err = cli(args, capsys)
        assert rc == 2 and message in err, err
    rc, err = cli(["export", str(toy_run), str(tmp_path / "exp"), "--max-file-mb", "1e-6"],
                  capsys)  # one byte: no row of a weight matrix fits
    assert rc == 2 and "more than the 1 bytes a file may hold" in err and "Traceback" not in err
    assert not (tmp_path / "exp").exists()
    for seed in ("-1", "4294967296"):
        rc, err = cli(["sample", str(toy_run), "--seed", seed], capsys)
        assert rc == 2 and "argument --seed: must be in 0..4294967295" in err
    metrics = toy_run / "metrics.jsonl"
    good = metrics.read_text()
    metrics.write_text(good[:-20])  # its last line cut short
    rc, err = cli(["evaluate", str(toy_run), "--k", "2"], capsys)
    assert rc == 2 and "metrics.jsonl is damaged" in err, err
    metrics.write_text(good)
    info = toy_run / "run.json"
    info.write_text(info.read_text()[:100])  # truncated
    rc, err = cli(["evaluate", str(toy_run)], capsys)
    assert rc == 2 and "run.json is damaged" in err


def test_a_damaged_checkpoint_is_detected_and_the_previous_one_offered(toy_run, capsys):
    ckpt = toy_run / "checkpoint.pt"
    state = torch.load(ckpt, weights_only=True)
    assert state["epoch"] == 2 and "checksum" in state
    assert torch.load(toy_run / "checkpoint.prev.pt", weights_only=True)["epoch"] == 1
    raw = bytearray(ckpt.read_bytes())
    weight = state["model"]["head.loc.weight"].numpy().tobytes()
    at = bytes(raw).index(weight)  # flip bits inside a weight tensor's stored bytes
    raw[at:at + 4] = bytes(b ^ 0x5A for b in raw[at:at + 4])
    ckpt.write_bytes(bytes(raw))
    for args in (["evaluate", str(toy_run), "--k", "2"],
                 ["train", "--resume", "--out", str(toy_run), "--epochs", "3"]):
        rc, err = cli(args, capsys)
        assert rc == 2 and "is damaged" in err and "--resume --previous" in err, err
    rc, err = cli(["train", "--resume", "--previous", "--out", str(toy_run), "--epochs", "3",
                   "--no-progress"], capsys)
    assert rc == 0, err
    assert [m["epoch"] for m in load(toy_run).metrics] == [1, 2, 3]  # epoch 2 trained again
    assert (toy_run / "checkpoint.damaged.pt").is_file()  # set aside, never kept as previous
    assert RunDir(toy_run).load("checkpoint.prev.pt")["epoch"] == 2
    for _ in range(2):  # a refused start does not keep the folder locked
        rc, err = cli(["train", "--config", TOY, "--out", str(toy_run), *SMALL], capsys)
        assert rc == 2 and "already holds a run" in err, err


def test_one_process_owns_a_run_folder(tmp_path, capsys):
    out = tmp_path / "run"
    holder = RunDir(out)
    holder.lock()
    try:
        rc, err = cli(["train", "--config", TOY, "--out", str(out), *SMALL], capsys)
        assert rc == 2 and "is in use by another ppvae process" in err
        assert not (out / "checkpoint.pt").exists()
    finally:
        holder.unlock()
    cfg = load_config(TOY)
    a, b = default_run_dir(cfg, tmp_path), default_run_dir(cfg, tmp_path)  # same second
    assert a != b and a.is_dir() and b.is_dir()


def test_a_run_stopped_before_its_first_checkpoint_starts_afresh(tmp_path, toy_run, capsys):
    dead = tmp_path / "dead"
    dead.mkdir()
    shutil.copy(toy_run / "run.json", dead / "run.json")  # what a kill in epoch 1 left
    (dead / "metrics.jsonl").write_text("")
    (dead / ".checkpoint.pt.abc.tmp").write_bytes(b"half a checkpoint")
    rc, err = cli(["train", "--resume", "--out", str(dead)], capsys)
    assert rc == 2 and "stopped before its first checkpoint" in err and "without --resume" in err
    rc, err = cli(["train", "--config", TOY, "--epochs", "1", "--out", str(dead), *SMALL], capsys)
    assert rc == 0, err
    assert not list(dead.glob(".*.tmp"))
    assert [m["epoch"] for m in load(dead).metrics] == [1]


@pytest.mark.filterwarnings("ignore:Encountered NaN")
def test_resume_overrides_reach_run_json_only_with_a_checkpoint(toy_run, capsys):
    before = json.loads((toy_run / "run.json").read_text())
    rc, err = cli(["train", "--resume", "--out", str(toy_run), "--epochs", "1"], capsys)
    assert rc == 2 and "has trained 2 epochs" in err
    rc, err = cli(["train", "--resume", "--out", str(toy_run), "--epochs", "3", "--lr", "1e30",
                   "--no-progress"], capsys)
    assert rc == 1 and "loss became" in err  # diverges in epoch 3: nothing is saved
    assert json.loads((toy_run / "run.json").read_text()) == before
    rc, err = cli(["train", "--resume", "--out", str(toy_run), "--epochs", "3", "--no-progress"],
                  capsys)
    assert rc == 0, err
    after = json.loads((toy_run / "run.json").read_text())
    assert after["config"]["train"]["epochs"] == 3
    assert after["config"]["train"]["lr"] == before["config"]["train"]["lr"]


@pytest.mark.usefixtures("no_event_guide")
def test_a_guide_missing_to_event_is_a_shape_error_at_any_batch(tmp_path, capsys):
    for batch in ("2", "64"):
        rc, err = cli(["train", "--config", TOY, "--set", "guide.name=test_no_event",
                       "--set", "guide.z_dim=2", "--set", "model.z_dim=2",
                       "--batch-size", batch, "--out", str(tmp_path / batch), *SMALL], capsys)
        assert rc == 2, err
        assert "the guide failed on a batch of shape (7, 2): Shape mismatch inside " \
            "plate('data') at site z dim -1, 7 vs 2 (a missing .to_event(1)?)" in err
        assert "learning rate" not in err


def test_a_full_or_read_only_file_system_is_exit_2_and_keeps_the_last_checkpoint(
        tmp_path, toy_run, monkeypatch, capsys):
    import errno

    import ppvae.rundir

    real = ppvae.rundir.atomic_save

    def full_disk(obj, path):
        if obj.get("epoch") == 3:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(obj, path)

    monkeypatch.setattr(ppvae.rundir, "atomic_save", full_disk)
    rc, err = cli(["train", "--resume", "--out", str(toy_run), "--epochs", "3",
                   "--no-progress"], capsys)
    assert rc == 2 and "No space left on device" in err and "last good checkpoint is kept" in err
    assert load(toy_run).metrics[-1]["epoch"] == 2
    monkeypatch.setattr(ppvae.rundir, "atomic_save", real)

    def read_only(self, *_args, **_kwargs):
        raise PermissionError(errno.EROFS, "Read-only file system", str(self))

    monkeypatch.setattr(type(tmp_path), "write_text", read_only)
    capsys.readouterr()
    rc = main(["evaluate", str(toy_run), "--k", "2", "--no-progress"])
    out, err = capsys.readouterr()
    assert rc == 2 and "the results above could not be saved" in err
    assert "test log p(x)" in out  # the numbers were printed before


@pytest.mark.parametrize("damage", ["magic", "truncated"])
def test_damaged_mnist_files_are_named_as_damaged(damage, tmp_path, data_dir, capsys):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in (data_dir / "MNIST" / "raw").iterdir():
        (raw / f.name).symlink_to(f)
    images = raw / "train-images-idx3-ubyte"
    data = images.read_bytes()
    images.unlink()
    images.write_bytes(b"\x00\x00\x09\x09" + data[4:] if damage == "magic" else data[:5000])
    rc, err = cli(["train", "--config", str(REPO / "configs" / "mnist_z2.toml"),
                   "--data-dir", str(tmp_path), "--out", str(tmp_path / "r")], capsys)
    assert rc == 2 and "cannot be read" in err and "damaged or truncated" in err, err
    assert "download failed" not in err


@pytest.mark.slow  # two ppvae processes
def test_two_trainings_started_at_once_on_one_folder(tmp_path):
    import os
    import subprocess
    import sys

    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmds = [[sys.executable, "-m", "ppvae", "train", "--config", TOY, "--epochs", "3",
             "--seed", str(seed), "--out", str(out), *SMALL] for seed in (1, 2)]
    procs = [subprocess.Popen(c, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for c in cmds]
    results = []
    for p in procs:
        _, err = p.communicate(timeout=300)
        results.append((p.returncode, err))
    codes = sorted(rc for rc, _ in results)
    assert codes == [0, 2], results
    refused = next(err for rc, err in results if rc == 2)
    assert "in use by another ppvae process" in refused or "already holds a run" in refused
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    info = json.loads((out / "run.json").read_text())
    assert json.loads(state["config"]) == info["config"]  # one run's files, not a mix
