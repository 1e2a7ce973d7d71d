"""benchmarks.m2_plain: its loss against torch.distributions, resume, refusals."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from benchmarks.m2_plain import PlainM2, main
from tests.conftest import tiny_m2_run


def reference_loss(m: PlainM2, x_l: torch.Tensor, y_l: torch.Tensor, x_u: torch.Tensor,
                   weight: float, per_row: float, eps: torch.Tensor) -> torch.Tensor:
    """The same loss written row by row with torch.distributions, given the noise ``eps``."""
    c = m.num_classes

    def elbo(x: torch.Tensor, y: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        onehot = torch.nn.functional.one_hot(y, c).float()
        mu, logvar = m.encoder(x, onehot)
        q = Normal(mu, (0.5 * logvar).exp())
        x_mu, x_logvar = m.decoder(q.loc + q.scale * e, onehot)
        log_px = Normal(x_mu, (0.5 * x_logvar).exp()).log_prob(x).sum(-1)
        return log_px - kl_divergence(q, Normal(0.0, 1.0)).sum(-1) + math.log(1 / c)

    total = torch.zeros(())
    n_l = x_l.shape[0]
    for i in range(n_l):
        log_q = torch.log_softmax(m.classify(x_l[i:i + 1]), 1)[0, y_l[i]]
        total = total + elbo(x_l[i:i + 1], y_l[i:i + 1], eps[i:i + 1]).sum() + weight * log_q
    for j in range(x_u.shape[0]):
        probs = torch.softmax(m.classify(x_u[j:j + 1]), 1)[0]
        for k in range(c):
            row = n_l + j * c + k
            total = total + probs[k] * elbo(x_u[j:j + 1], torch.tensor([k]),
                                            eps[row:row + 1]).sum()
        total = total - (probs * (probs + 1e-8).log()).sum()
    return -per_row * total


def test_loss_equals_the_row_by_row_reference():
    torch.manual_seed(0)
    m = PlainM2(x_dim=4, num_classes=3, z_dim=2, hidden=7)
    g = torch.Generator().manual_seed(3)
    x_l, y_l = torch.randn(2, 4, generator=g), torch.tensor([2, 0])
    x_u = torch.randn(3, 4, generator=g)
    got = m.loss(x_l, y_l, x_u, weight=5.0, per_row=0.25, gen=torch.Generator().manual_seed(9))
    eps = torch.randn(2 + 3 * 3, 2, generator=torch.Generator().manual_seed(9))
    want = reference_loss(m, x_l, y_l, x_u, 5.0, 0.25, eps)
    torch.testing.assert_close(got, want)
    # negative control: another noise draw gives another value
    other = m.loss(x_l, y_l, x_u, weight=5.0, per_row=0.25, gen=torch.Generator().manual_seed(8))
    assert not torch.allclose(other, want)


@pytest.fixture(scope="module")
def semi_run_dir(tmp_path_factory, data_dir):
    return tiny_m2_run(tmp_path_factory.mktemp("plain") / "r", data_dir, "train.batch_size=64",
                       "semi.labelled_batch_size=5")


def _args(run, out, data_dir, *extra):
    return [str(run), "--out", str(out), "--hidden", "6", "--eval-every", "1", "--threads", "1",
            "--data-dir", str(data_dir), *extra]


def test_resume_continues_exactly(semi_run_dir, data_dir, tmp_path, capsys):
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert main(_args(semi_run_dir, whole, data_dir, "--epochs", "3")) == 0
    assert main(_args(semi_run_dir, parts, data_dir, "--epochs", "1")) == 0
    with open(parts / "metrics.jsonl", "a") as f:  # a row whose checkpoint was never written
        f.write(json.dumps({"epoch": 2, "loss": 0.0}) + "\n")
    assert main(_args(semi_run_dir, parts, data_dir, "--epochs", "3", "--resume")) == 0
    capsys.readouterr()

    def rows(d):
        return [{k: v for k, v in json.loads(s).items() if k != "seconds"}
                for s in (d / "metrics.jsonl").read_text().splitlines()]

    assert [r["epoch"] for r in rows(whole)] == [1, 2, 3]
    assert rows(parts) == rows(whole)
    assert all(0 <= r["valid_error"] <= 1 and math.isfinite(r["loss"]) for r in rows(whole))
    a = torch.load(whole / "checkpoint.pt", weights_only=True)["model"]
    b = torch.load(parts / "checkpoint.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    run = json.loads((whole / "run.json").read_text())
    assert (run["batch_u"], run["batch_l"], run["alpha"]) == (64, 5, 0.1)


def test_refusals_exit_2(semi_run_dir, data_dir, tmp_path, capsys):
    assert main(_args(tmp_path / "nowhere", tmp_path / "o1", data_dir)) == 2
    assert "error:" in capsys.readouterr().err
    assert main(_args(semi_run_dir, tmp_path / "o2", data_dir, "--resume")) == 2
    assert "--resume" in capsys.readouterr().err
    done = tmp_path / "o3"
    assert main(_args(semi_run_dir, done, data_dir, "--epochs", "1")) == 0
    assert main(_args(semi_run_dir, done, data_dir, "--epochs", "1")) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert main([*_args(semi_run_dir, done, data_dir, "--epochs", "2", "--resume"),
                 "--hidden", "7"]) == 2
    assert "began with other settings (hidden 6 -> 7)" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(_args(semi_run_dir, tmp_path / "o4", data_dir, "--epochs", "0"))
    assert exc.value.code == 2


def test_settings_the_plain_m2_lacks_are_refused(tmp_path, data_dir, capsys):
    run = tiny_m2_run(tmp_path / "r", data_dir, "semi.labelled_weight=2")
    capsys.readouterr()
    assert main(_args(run, tmp_path / "o", data_dir, "--epochs", "1")) == 2
    assert "has semi.labelled_weight != 1: the plain M2" in capsys.readouterr().err
