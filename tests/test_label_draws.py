"""benchmarks.label_draws: simple classifiers on the labelled images alone, known answers."""

from __future__ import annotations

import pytest
import torch

from benchmarks.label_draws import error, logistic_regression, main, nearest_neighbour
from tests.conftest import tiny_m2_run


def test_nearest_neighbour_known_answer():
    x_l = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    y_l = torch.tensor([4, 7, 2])
    x = torch.tensor([[1.0, 1.0], [9.0, 2.0], [-1.0, 8.0], [6.0, 0.0]])
    assert nearest_neighbour(x_l, y_l, x).tolist() == [4, 7, 2, 7]


def test_logistic_regression_separates_clusters_and_not_random_labels():
    g = torch.Generator().manual_seed(0)
    centres = 6 * torch.eye(3, 5)
    y = torch.arange(300) % 3
    x = centres[y] + torch.randn(300, 5, generator=g)
    assert error(logistic_regression(x[:30], y[:30], 3)(x[30:]), y[30:]) < 0.02
    # negative control: labels unrelated to the inputs leave held-out rows near chance
    y_random = torch.randint(3, (300,), generator=g)
    assert error(logistic_regression(x[:30], y_random[:30], 3)(x[30:]), y_random[30:]) > 0.4


def test_a_missing_run_exits_2(tmp_path, capsys):
    assert main([str(tmp_path / "nowhere")]) == 2
    assert "error:" in capsys.readouterr().err


def test_on_a_trained_run_prints_one_row_per_draw(tmp_path, data_dir, capsys):
    out = tiny_m2_run(tmp_path / "r", data_dir)
    capsys.readouterr()
    assert main([str(out), "--seeds", "0", "5", "--data-dir", str(data_dir)]) == 0
    rows = [r.split() for r in capsys.readouterr().out.splitlines()[2:]]
    assert [r[:2] for r in rows] == [["torch", "0"], ["torch", "5"], ["numpy", "0"],
                                    ["numpy", "5"]]
    for r in rows:  # the test error is the mean of the errors on the test set's two halves
        lr_test, half1, half2 = (float(v.strip("%()")) for v in (r[7], r[8], r[10]))
        assert lr_test == pytest.approx((half1 + half2) / 2, abs=0.011)
    with pytest.raises(SystemExit) as exc:
        main([str(out), "--seeds", "-1", "--data-dir", str(data_dir)])
    assert exc.value.code == 2
    assert "argument --seeds: must be in 0.." in capsys.readouterr().err
