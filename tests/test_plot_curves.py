"""benchmarks.plot_curves: curves of run folders, per-run steps, clear refusals."""

from __future__ import annotations

import json

import pytest

from benchmarks.plot_curves import main


def fake_run(path, epochs: int):
    path.mkdir()
    rows = [{"epoch": e, "valid_error": 0.5 / e, "test_error": 0.6 / e} for e in
            range(1, epochs + 1)]
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_each_run_can_have_its_own_steps_per_epoch(tmp_path):
    a, b = fake_run(tmp_path / "a", 4), fake_run(tmp_path / "b", 3)
    out = tmp_path / "curve.png"
    assert main(["--run", f"a={a}", "--run", f"b={b}", "--metric", "valid_error",
                 "--steps-per-epoch", "250", "--steps-per-epoch", "100", "--ylim", "0", "60",
                 "--ref", "3.33", "--out", str(out)]) == 0
    assert out.stat().st_size > 1000


def test_max_epoch_cuts_every_run(tmp_path, monkeypatch):
    import benchmarks.plot_curves as plot_curves

    made = []
    real = plot_curves.subplots
    monkeypatch.setattr(plot_curves, "subplots", lambda size: made.append(real(size)) or made[-1])
    a, b = fake_run(tmp_path / "a", 6), fake_run(tmp_path / "b", 3)
    assert main(["--run", f"a={a}", "--run", f"b={b}", "--metric", "valid_error",
                 "--max-epoch", "4", "--no-ref", "--ylim", "0", "60",
                 "--out", str(tmp_path / "c.png")]) == 0
    ax = made[0][1]
    assert [list(line.get_xdata()) for line in ax.lines] == [[1, 2, 3, 4], [1, 2, 3]]


@pytest.mark.parametrize(("extra", "message"), [
    (["--max-epoch", "0"], "argument --max-epoch: must be >= 1"),
    (["--steps-per-epoch", "1", "--steps-per-epoch", "2", "--steps-per-epoch", "3"],
     "once per --run"),
    (["--steps-per-epoch", "0"], "argument --steps-per-epoch: must be >= 1"),
    (["--run", "c=/nonexistent/run"], "holds no metrics.jsonl"),
])
def test_bad_arguments_exit_2(tmp_path, capsys, extra, message):
    a = fake_run(tmp_path / "a", 2)
    with pytest.raises(SystemExit) as exc:
        main(["--run", f"a={a}", "--out", str(tmp_path / "x.png"), *extra])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


SSLVAE_LOG = """epoch:     10, it:      100, loss: 21.56, s_acc: 0.8605
epoch: 0010/3000, val_accuracy:0.8500, test_accuracy: 0.8400
epoch: 0020/3000, val_accuracy:0.9000, test_accuracy: 0.8800
"""


def test_sslvae_log_gives_errors_at_the_steps_of_the_first_run(tmp_path, monkeypatch):
    import benchmarks.plot_curves as plot_curves

    made = []
    real = plot_curves.subplots
    monkeypatch.setattr(plot_curves, "subplots", lambda size: made.append(real(size)) or made[-1])
    a = fake_run(tmp_path / "a", 2)
    log = tmp_path / "log.txt"
    log.write_text(SSLVAE_LOG)
    assert main(["--run", f"a={a}", "--sslvae-log", f"theirs={log}", "--metric", "valid_error",
                 "--metric", "test_error", "--steps-per-epoch", "100", "--no-ref", "--ylim", "0",
                 "60", "--out", str(tmp_path / "c.png")]) == 0
    theirs = made[0][1].lines[2:]
    assert [list(line.get_xdata()) for line in theirs] == [[1000, 2000]] * 2
    assert list(theirs[0].get_ydata()) == pytest.approx([15.0, 10.0])
    assert list(theirs[1].get_ydata()) == pytest.approx([16.0, 12.0])
    assert theirs[0].get_label() == "theirs, validation error"


@pytest.mark.parametrize(("text", "metric", "label", "message"), [
    ("no such lines\n", "valid_error", "x=", "holds no 'epoch: N/M, val_accuracy"),
    (SSLVAE_LOG, "test_elbo", "x=", "--sslvae-log has errors only"),
    (SSLVAE_LOG, "valid_error", "", "takes LABEL=LOG"),
    (None, "valid_error", "x=", "cannot read"),
])
def test_bad_sslvae_log_exits_2(tmp_path, capsys, text, metric, label, message):
    a, log = fake_run(tmp_path / "a", 2), tmp_path / "log.txt"
    if text is not None:
        log.write_text(text)
    with pytest.raises(SystemExit) as exc:
        main(["--run", f"a={a}", "--sslvae-log", f"{label}{log}", "--metric", metric,
              "--out", str(tmp_path / "x.png")])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
