"""benchmarks.ssl_table: model selection, grouping by settings, --max-epoch; known answers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from benchmarks.ssl_table import main
from tests.conftest import tiny_m2_run


def _variant(src: Path, dst: Path, errors: list[tuple[float, float]], **changes: object) -> str:
    """A copy of run ``src`` with ``section.key`` settings changed and one evaluation per
    epoch: (validation, test error) of ``errors``."""
    shutil.copytree(src, dst)
    info = json.loads((dst / "run.json").read_text())
    for key, value in changes.items():
        *sections, leaf = key.split("__")
        node = info["config"]
        for s in sections:
            node = node[s]
        node[leaf] = value
    (dst / "run.json").write_text(json.dumps(info))
    rows = [{"epoch": e, "seconds": 60.0, "valid_error": v, "test_error": t}
            for e, (v, t) in enumerate(errors, start=1)]
    (dst / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(dst)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, data_dir):
    root = tmp_path_factory.mktemp("table")
    src = tiny_m2_run(root / "src", data_dir)
    return {
        # seed 0 of config "a"; seed 1 started from another config with the same settings
        "a0": _variant(src, root / "a0", [(0.30, 0.32), (0.10, 0.12), (0.20, 0.22)], name="a"),
        "b1": _variant(src, root / "b1", [(0.25, 0.27), (0.15, 0.18), (0.05, 0.06)], name="b",
                       semi__label_seed=1, train__seed=1, train__epochs=9),
        # the same name and seed 2, but another alpha: a recipe of its own
        "c2": _variant(src, root / "c2", [(0.50, 0.50)], name="a", semi__label_seed=2,
                       semi__alpha=7.0),
    }


def test_selects_the_best_validation_epoch_and_groups_by_settings(runs, capsys):
    assert main([runs["a0"], runs["b1"], runs["c2"]]) == 0
    out = capsys.readouterr().out
    rows = [r.split(" | ") for r in out.splitlines()[2:5]]
    assert [r[3:6] for r in rows] == [["3", "10.00% (2)", "12.00%"], ["3", "5.00% (3)", "6.00%"],
                                      ["1", "50.00% (1)", "50.00%"]]
    # a0 and b1 only: mean of 12 and 6, sample sd 4.24; c2 (other alpha) stays out
    assert out.splitlines()[-1] == ("a = b, 20 labels, 2 seeds, 3 epochs: test error "
                                    "9.00 ± 4.24 % (mean ± sd)")


def test_max_epoch_reads_each_run_up_to_that_epoch(runs, capsys):
    assert main([runs["a0"], runs["b1"], "--max-epoch", "2"]) == 0
    out = capsys.readouterr().out
    # b1's best by epoch 2 is epoch 2 (15 %, test 18 %), not epoch 3
    assert "| 2 | 15.00% (2) | 18.00% |" in out
    assert out.splitlines()[-1].endswith("2 epochs: test error 15.00 ± 4.24 % (mean ± sd)")


def test_bad_input_exits_2(runs, tmp_path, capsys):
    assert main([runs["a0"], str(tmp_path / "nowhere")]) == 2
    assert "error:" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main([runs["a0"], "--max-epoch", "0"])
    assert exc.value.code == 2
    assert "argument --max-epoch: must be >= 1" in capsys.readouterr().err
