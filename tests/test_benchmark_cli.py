"""Benchmark commands answer bad input as ``ppvae`` does: a one-line message and exit code 2."""

from __future__ import annotations

import importlib

import pytest

from benchmarks.common import fraction, guarded
from ppvae.errors import ConfigError
from tests.conftest import tiny_m2_run

#: every benchmark whose ``main`` takes a run folder as its first argument
TAKES_A_RUN = ["speed_loglik", "speed_malloc", "toy2d_truth", "ssl_blocks", "ssl_table"]


@pytest.mark.parametrize("name", TAKES_A_RUN)
def test_a_missing_run_is_exit_2(name, tmp_path, capsys):
    main = importlib.import_module(f"benchmarks.{name}").main
    assert main([str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err


@pytest.mark.parametrize(("name", "args", "message"), [
    ("speed", ["--fraction", "2"], "argument --fraction: must be in (0, 1]"),
    ("speed_m2", ["--fraction", "0"], "argument --fraction: must be in (0, 1]"),
    ("speed", ["--rounds", "0"], "argument --rounds: must be >= 1"),
    ("speed_loglik", ["run", "--threads", "0"], "argument --threads: must be >= 1"),
    ("toy2d_truth", ["run", "--k-sweep", "5,x"], "argument --k-sweep: 'x' is not an integer"),
    ("quality", ["--seed", "-1"], "argument --seed: must be in 0..4294967295"),
    ("label_draws", ["run", "--seeds", "0", "-2"], "argument --seeds: must be in 0.."),
])
def test_bad_numbers_are_usage_errors(name, args, message, capsys):
    main = importlib.import_module(f"benchmarks.{name}").main
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_toy2d_truth_names_a_run_of_other_data(tmp_path, data_dir, capsys):
    from benchmarks.toy2d_truth import main

    run = tiny_m2_run(tmp_path / "m2", data_dir)
    capsys.readouterr()
    assert main([str(run), "--n", "10", "--k", "2"]) == 2
    assert "was trained on 'mnist'" in capsys.readouterr().err


def test_guarded_reports_ppvae_and_file_errors_and_passes_the_rest(tmp_path, capsys):
    @guarded
    def raises(argv: list[str] | None = None) -> int:
        kind = (argv or [""])[0]
        if kind == "config":
            raise ConfigError("bad value")
        if kind == "file":
            return len((tmp_path / "absent.txt").read_text())
        if kind == "bug":
            raise ZeroDivisionError("a bug is not bad input")
        return 0

    assert raises(["config"]) == 2 and "error: bad value" in capsys.readouterr().err
    assert raises(["file"]) == 2 and "absent.txt" in capsys.readouterr().err
    assert raises(["ok"]) == 0
    with pytest.raises(ZeroDivisionError):  # negative control: bugs still surface
        raises(["bug"])


@pytest.mark.parametrize(("text", "value"), [("1", 1.0), ("0.25", 0.25), ("1e-3", 1e-3)])
def test_fraction_accepts_numbers_in_0_1(text, value):
    assert fraction(text) == value
