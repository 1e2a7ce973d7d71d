"""The CLI end to end on small slices of the real data sets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ppvae import load
from ppvae.cli import main
from tests.conftest import REPO

CONFIGS = REPO / "configs"


def train(tmp_path: Path, data_dir: Path, config: str, *extra: str) -> Path:
    out = tmp_path / config
    rc = main(["train", "--config", str(CONFIGS / f"{config}.toml"), "--out", str(out),
               "--data-dir", str(data_dir), "--no-progress", *extra])
    assert rc == 0
    return out


def test_list(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("vae", "normal", "trace", "meanfield", "mnist", "frey", "toy2d"):
        assert f"  {name} " in out


def test_mnist_z2_train_evaluate_and_figures(tmp_path, data_dir, capsys):
    run = train(tmp_path, data_dir, "mnist_z2", "--epochs", "2", "--set", "data.n_train=1000",
                "--set", "data.n_test=300", "--batch-size", "128")
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in metrics] == [1, 2]
    assert metrics[1]["train_elbo"] > metrics[0]["train_elbo"]
    capsys.readouterr()
    assert main(["evaluate", str(run), "--k", "20", "--n", "50", "--data-dir", str(data_dir),
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "test ELBO" in out and "test log p(x)" in out
    result = json.loads((run / "evaluate-k20-n50.json").read_text())
    assert result["n_test"] == 50 and result["test_log_px"] >= result["test_elbo"] - 1.0
    for cmd in ("sample", "reconstruct", "manifold", "embed"):
        assert main([cmd, str(run), "--data-dir", str(data_dir), "--n", "16"]) == 0
        png = run / f"{cmd}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    loaded = load(run)
    assert loaded.config.model.options.z_dim == 2
    assert len(loaded.metrics) == 2


def test_frey_and_toy2d_train(tmp_path, data_dir):
    frey = train(tmp_path, data_dir, "frey_z2", "--epochs", "2")
    assert main(["manifold", str(frey), "--grid", "5", "--data-dir", str(data_dir)]) == 0
    toy = train(tmp_path, data_dir, "toy2d", "--epochs", "2", "--set", "data.n_train=500")
    for cmd in ("sample", "reconstruct", "manifold", "embed"):
        assert main([cmd, str(toy), "--data-dir", str(data_dir)]) == 0
        assert (toy / f"{cmd}.png").is_file()


def test_manifold_refuses_a_50d_latent(tmp_path, data_dir, capsys):
    run = train(tmp_path, data_dir, "mnist_z50", "--epochs", "1", "--set", "data.n_train=256",
                "--set", "data.n_test=64")
    capsys.readouterr()
    assert main(["manifold", str(run), "--data-dir", str(data_dir)]) == 2
    assert "z_dim=50" in capsys.readouterr().err


@pytest.mark.slow  # a ppvae process
def test_python_entry_point_runs_as_a_process():
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "ppvae", "list"], capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "models:" in proc.stdout


@pytest.mark.slow  # a ppvae process
@pytest.mark.parametrize("keep", [False, True])
def test_keep_freed_memory_is_an_option_and_says_so(tmp_path, data_dir, keep):
    """``--keep-freed-memory`` sets glibc's malloc to keep freed memory, and says so; without
    it the malloc settings are left alone."""
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "ppvae", "train", "--config", str(CONFIGS / "toy2d.toml"),
           "--epochs", "1", "--set", "data.n_train=200", "--out", str(tmp_path / "r"),
           "--data-dir", str(data_dir), "--no-progress", *(["--keep-freed-memory"] if keep else [])]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert ("malloc keeps freed memory" in proc.stderr) is keep
    assert (tmp_path / "r" / "checkpoint.pt").is_file()


@pytest.mark.parametrize("flag", ["--epochs=0", "--lr=-1"])
@pytest.mark.usefixtures("data_dir")
def test_bad_flag_values_exit_2(tmp_path, flag, capsys):
    rc = main(["train", "--config", str(CONFIGS / "toy2d.toml"), "--out", str(tmp_path / "r"),
               flag])
    assert rc == 2
    assert "must be" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
