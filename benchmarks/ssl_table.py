"""Table of semi-supervised runs: best validation error, test error there, wall time.

    python -m benchmarks.ssl_table runs/m1m2_l100_s0 runs/m1m2_l100_s1 ...

Runs with the same config and label count are grouped; a group with several seeds also
gets the mean and sample standard deviation of its test errors. Prints Markdown.
"""

from __future__ import annotations

import argparse
import statistics
from collections import defaultdict
from pathlib import Path

from ppvae.api import read_metrics, read_run_info
from ppvae.errors import RunError


def summarize(run_dir: str) -> dict:
    """Model selection on validation error: the test error at the best validation epoch."""
    cfg, _ = read_run_info(Path(run_dir))
    metrics = read_metrics(run_dir)
    scored = [m for m in metrics if "valid_error" in m]
    if not scored:
        raise RunError(f"{run_dir} has no validation errors (not a semi-supervised run?)")
    best = min(scored, key=lambda m: m["valid_error"])
    return {"run": run_dir, "config": cfg.name, "labels": cfg.semi.labels,
            "seed": cfg.semi.label_seed, "rng": cfg.semi.label_rng, "epochs": metrics[-1]["epoch"],
            "best_epoch": best["epoch"], "valid_error": best["valid_error"],
            "test_error": best["test_error"], "last_test_error": scored[-1]["test_error"],
            "minutes": sum(m["seconds"] for m in metrics) / 60}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("runs", nargs="+")
    args = p.parse_args(argv)
    rows = [summarize(r) for r in args.runs]
    print("| config | labels | seed | epochs | best valid (epoch) | test error there | "
          "test error, last epoch | training min |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    groups: dict[tuple[str, int, str], list[dict]] = defaultdict(list)
    for r in rows:
        groups[(r["config"], r["labels"], r["rng"])].append(r)
        seed = r["seed"] if r["rng"] == "torch" else f"{r['seed']} ({r['rng']} draw)"
        print(f"| {r['config']} | {r['labels']} | {seed} | {r['epochs']} | "
              f"{r['valid_error']:.2%} ({r['best_epoch']}) | {r['test_error']:.2%} | "
              f"{r['last_test_error']:.2%} | {r['minutes']:.0f} |")
    for (config, labels, rng), group in groups.items():
        if len(group) > 1:
            errs = [g["test_error"] * 100 for g in group]
            draws = "" if rng == "torch" else f" ({rng} draws)"
            print(f"\n{config}, {labels} labels, {len(group)} seeds{draws}: test error "
                  f"{statistics.mean(errs):.2f} ± {statistics.stdev(errs):.2f} % (mean ± sd)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
