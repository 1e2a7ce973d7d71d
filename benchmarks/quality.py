"""Test ELBO per epoch: ppvae vs. the Pyro-example-style baseline, same settings and seed.

    python -m benchmarks.quality --epochs 20

Prints one row per epoch and writes benchmarks/results/quality_MACHINE_DATE.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pyro
import torch

from benchmarks.baselines import per_item_loader, pyro_example_epoch, pyro_example_setup
from benchmarks.common import guarded, machine, positive, results_path, seed_value
from ppvae.config import load_config
from ppvae.data import load_data

REPO = Path(__file__).resolve().parents[1]


def pyro_example_curve(x_train: torch.Tensor, x_test: torch.Tensor, epochs: int, seed: int,
                       batch_size: int) -> list[dict]:
    pyro.set_rng_seed(seed)
    _, svi = pyro_example_setup()
    loader = per_item_loader(x_train, batch_size, seed)
    rows = []
    for epoch in range(1, epochs + 1):
        tic = time.perf_counter()
        train_loss = pyro_example_epoch(svi, loader)
        seconds = time.perf_counter() - tic
        test_loss = sum(svi.evaluate_loss(xb) for xb in x_test.split(batch_size))
        rows.append({"epoch": epoch, "train_elbo": -train_loss / len(x_train),
                     "test_elbo": -test_loss / len(x_test), "seconds": seconds})
        print(f"pyro-example epoch {epoch:3d}  test ELBO {rows[-1]['test_elbo']:.3f}", flush=True)
    return rows


@guarded
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--epochs", type=positive, default=20)
    p.add_argument("--seed", type=seed_value, default=0)
    p.add_argument("--data-dir")
    p.add_argument("--out", default=str(results_path("quality")))
    args = p.parse_args(argv)
    cfg = load_config(REPO / "configs" / "mnist_z50.toml")
    data = load_data(cfg.data, args.data_dir)
    rows = pyro_example_curve(data.x_train, data.x_test, args.epochs, args.seed,
                              cfg.train.batch_size)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": machine(), "pyro_example": rows,
                               "batch_size": cfg.train.batch_size, "seed": args.seed}, indent=2))
    print(f"saved {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
