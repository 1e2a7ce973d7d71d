"""Table of semi-supervised runs: best validation error, test error there, wall time.

    python -m benchmarks.ssl_table runs/m1m2_l100_s0 runs/m1m2_l100_s1 ... [--max-epoch N]

Runs that differ only in their name, seeds, length, threads or device are grouped (a run
started from one config with ``--set`` overrides joins the runs of a config with those
settings); a group with several seeds also gets the mean and sample standard deviation of
its test errors. ``--max-epoch N`` reads each run's first N epochs only, to compare runs
still in progress at one length. Prints Markdown.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from benchmarks.common import positive
from ppvae.api import read_metrics, read_run_info
from ppvae.config import RunConfig
from ppvae.errors import PPVAEError, RunError
from ppvae.tensorboard import flat_config

# settings that do not change what a run computes per draw, or only say which draw it is
NOT_RECIPE = {"name", "train.seed", "train.epochs", "train.threads", "train.device",
              "train.tensorboard", "train.image_every", "semi.label_seed"}


def recipe(cfg: RunConfig) -> str:
    """The run's settings less those in ``NOT_RECIPE``, as one comparable string."""
    flat = {k: v for k, v in flat_config(cfg.to_dict()).items() if k not in NOT_RECIPE}
    return json.dumps(flat, sort_keys=True)


def summarize(run_dir: str, max_epoch: int | None = None) -> dict[str, Any]:
    """Model selection on validation error: the test error at the best validation epoch."""
    cfg, _ = read_run_info(Path(run_dir))
    if cfg.semi is None:
        raise RunError(f"{run_dir} is not a semi-supervised run")
    metrics = [m for m in read_metrics(run_dir) if max_epoch is None or m["epoch"] <= max_epoch]
    scored = [m for m in metrics if "valid_error" in m]
    if not scored:
        upto = "" if max_epoch is None else f" by epoch {max_epoch}"
        raise RunError(f"{run_dir} has no validation errors{upto}")
    best = min(scored, key=lambda m: m["valid_error"])
    return {"run": run_dir, "config": cfg.name, "recipe": recipe(cfg), "labels": cfg.semi.labels,
            "seed": cfg.semi.label_seed, "rng": cfg.semi.label_rng, "epochs": metrics[-1]["epoch"],
            "best_epoch": best["epoch"], "valid_error": best["valid_error"],
            "test_error": best["test_error"], "last_test_error": scored[-1]["test_error"],
            "minutes": sum(m["seconds"] for m in metrics) / 60}


def group_lines(rows: list[dict[str, Any]]) -> list[str]:
    """One line per group of several runs of one recipe: mean ± sd of their test errors."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[r["recipe"]].append(r)
    lines = []
    for group in groups.values():
        if len(group) < 2:
            continue
        names = " = ".join(dict.fromkeys(g["config"] for g in group))
        rng = group[0]["rng"]
        draws = "" if rng == "torch" else f" ({rng} draws)"
        epochs = sorted({g["epochs"] for g in group})
        length = (f"{epochs[0]} epochs" if len(epochs) == 1
                  else f"{epochs[0]}–{epochs[-1]} epochs")
        errs = [g["test_error"] * 100 for g in group]
        lines.append(f"{names}, {group[0]['labels']} labels, {len(group)} seeds{draws}, "
                     f"{length}: test error {statistics.mean(errs):.2f} ± "
                     f"{statistics.stdev(errs):.2f} % (mean ± sd)")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("runs", nargs="+")
    p.add_argument("--max-epoch", type=positive, default=None,
                   help="read each run's metrics up to this epoch only")
    args = p.parse_args(argv)
    try:
        rows = [summarize(r, args.max_epoch) for r in args.runs]
    except PPVAEError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("| config | labels | seed | epochs | best valid (epoch) | test error there | "
          "test error, last epoch | training min |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        seed = r["seed"] if r["rng"] == "torch" else f"{r['seed']} ({r['rng']} draw)"
        print(f"| {r['config']} | {r['labels']} | {seed} | {r['epochs']} | "
              f"{r['valid_error']:.2%} ({r['best_epoch']}) | {r['test_error']:.2%} | "
              f"{r['last_test_error']:.2%} | {r['minutes']:.0f} |")
    for line in group_lines(rows):
        print(f"\n{line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
