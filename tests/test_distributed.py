"""Data-parallel training with torchrun and gloo on the CPU, started from pytest.

The pair uses a point-mass guide (``tests/delta_plugin.py``): its loss has no random draw,
so two processes stepping on halves of each global batch must reach what one process
reaches with the whole batch, up to the order of float sums.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from ppvae import fit, load
from tests.conftest import REPO

pytestmark = [pytest.mark.distributed, pytest.mark.slow]  # several processes: tens of seconds

STEPS_PER_EPOCH, BATCH = 20, 32


def config(path: Path, guide: str = "delta_test", epochs: int = 1, n_train: int = 640,
           batch: int = BATCH, train_extra: str = "") -> Path:
    path.write_text(f"""
name = "ddp"
plugins = ["tests.delta_plugin"]
[data]
name = "toy2d"
n_train = {n_train}
n_test = 101
[model]
name = "vae"
z_dim = 1
hidden = [16]
likelihood = "gaussian"
mean = "identity"
min_scale = 0.01
[guide]
name = "{guide}"
z_dim = 1
hidden = [16]
[train]
elbo = "trace"
epochs = {epochs}
batch_size = {batch}
lr = 0.01
device = "cpu"
{train_extra}
""")
    return path


def torchrun(nproc: int, args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           f"--nproc-per-node={nproc}", "-m", "ppvae", *args, "--no-progress"]
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (torchrun starts its workers in their own sessions)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL torchrun and all its workers at once, as a crash or an OOM kill would."""
    for pid in [proc.pid, *descendants(proc.pid)]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.communicate()


def finish(proc: subprocess.Popen) -> str:
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    return out


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    state = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    return {f"{part}.{k}": v for part in ("model", "guide") for k, v in state[part].items()}


def assert_same_run(a: Path, b: Path) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=1e-5, atol=1e-6, msg=k)
    ma, mb = load(a).metrics, load(b).metrics
    assert [m["epoch"] for m in ma] == [m["epoch"] for m in mb]
    for x, y in zip(ma, mb, strict=True):
        for key in ("train_elbo", "test_elbo"):
            assert x[key] == pytest.approx(y[key], rel=1e-5)


@pytest.fixture()
def in_repo(monkeypatch):
    monkeypatch.chdir(REPO)  # the plugin is named as a module of the checkout


CLIPPED = "clip_grad = 0.02\nweight_prior = 1.0"  # per-row clipping and the prior, summed


@pytest.mark.usefixtures("in_repo")
@pytest.mark.parametrize("train_extra", ["", CLIPPED])
def test_two_processes_reach_what_one_process_reaches(tmp_path, train_extra):
    cfg = config(tmp_path / "c.toml", train_extra=train_extra)
    one = fit(cfg, out=tmp_path / "one")
    assert len(one.metrics) == 1 and one.metrics[0]["epoch"] == 1  # 20 steps of batch 32
    if train_extra:  # the clipping binds: without it the run ends elsewhere
        plain = fit(config(tmp_path / "p.toml", train_extra="weight_prior = 1.0"),
                    out=tmp_path / "plain")
        assert plain.metrics[0]["train_elbo"] != pytest.approx(one.metrics[0]["train_elbo"],
                                                                rel=1e-3)
    finish(torchrun(2, ["train", "--config", str(cfg), "--out", str(tmp_path / "two")]))
    assert_same_run(tmp_path / "one", tmp_path / "two")
    assert not (tmp_path / "two" / ".metrics.jsonl.tmp").exists()


@pytest.mark.usefixtures("in_repo")
def test_a_killed_two_process_run_resumes_to_the_uninterrupted_result(tmp_path):
    # a stochastic guide: resuming must restore every process's random stream
    cfg = config(tmp_path / "c.toml", guide="normal", epochs=6, n_train=4000, batch=20)
    finish(torchrun(2, ["train", "--config", str(cfg), "--out", str(tmp_path / "full")]))
    cut = tmp_path / "cut"
    proc = torchrun(2, ["train", "--config", str(cfg), "--out", str(cut)])
    deadline = time.monotonic() + 240
    while not (cut / "metrics.jsonl").is_file() or \
            len((cut / "metrics.jsonl").read_text().splitlines()) < 2:
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[0]
        time.sleep(0.02)
    kill_tree(proc)
    killed_at = len((cut / "metrics.jsonl").read_text().splitlines())
    assert killed_at < 6, "the run ended before it could be killed"
    finish(torchrun(2, ["train", "--resume", "--out", str(cut), "--plugin", "tests.delta_plugin"]))
    assert_same_run(tmp_path / "full", cut)
    assert [m["epoch"] for m in load(cut).metrics] == [1, 2, 3, 4, 5, 6]


@pytest.mark.usefixtures("in_repo")
def test_checkpoints_move_between_world_sizes(tmp_path):
    cfg = config(tmp_path / "c.toml", epochs=2)
    fit(cfg, out=tmp_path / "ref")  # one process, two epochs
    # written by two processes, resumed by one
    finish(torchrun(2, ["train", "--config", str(cfg), "--out", str(tmp_path / "a"),
                        "--epochs", "1"]))
    with pytest.warns(RuntimeWarning, match="trained by 2 process"):
        fit(cfg, out=tmp_path / "a", resume=True)
    assert_same_run(tmp_path / "ref", tmp_path / "a")
    # written by one process, resumed by two
    fit(config(tmp_path / "c1.toml", epochs=1), out=tmp_path / "b")
    out = finish(torchrun(2, ["train", "--resume", "--out", str(tmp_path / "b"),
                              "--epochs", "2", "--plugin", "tests.delta_plugin"]))
    assert "trained by 1 process" in out
    assert_same_run(tmp_path / "ref", tmp_path / "b")


@pytest.mark.usefixtures("in_repo")
def test_a_batch_the_processes_cannot_share_is_refused(tmp_path):
    cfg = config(tmp_path / "c.toml", batch=33)
    out = torchrun(2, ["train", "--config", str(cfg), "--out", str(tmp_path / "r")])
    text, _ = out.communicate(timeout=300)
    assert out.returncode != 0
    assert "must be divisible by the number of processes (2)" in text
    assert "ppvae: error: train.batch_size = 33 is the global batch" in text
    assert not (tmp_path / "r" / "checkpoint.pt").exists()


@pytest.mark.usefixtures("in_repo")
def test_a_semi_supervised_run_shares_its_labelled_batches(tmp_path, data_dir):
    out = tmp_path / "m2"
    finish(torchrun(2, ["ssl", "--config", str(REPO / "configs" / "m2_mnist.toml"),
                        "--labels", "20", "--set", "data.n_train=600", "--set", "data.n_test=100",
                        "--set", "semi.n_valid=100", "--set", "model.hidden=[16]",
                        "--set", "guide.hidden=[16]", "--set", "guide.classifier_hidden=[16]",
                        "--set", "semi.labelled_batch_size=10", "--batch-size", "50",
                        "--epochs", "2", "--device", "cpu", "--data-dir", str(data_dir),
                        "--out", str(out)]))
    run = load(out)
    assert [m["epoch"] for m in run.metrics] == [1, 2]
    assert all(0 <= m["valid_error"] <= 1 and 0 <= m["test_error"] <= 1 for m in run.metrics)
    assert run.metrics[1]["train_elbo"] > run.metrics[0]["train_elbo"]
    assert (out / "best.pt").is_file()
