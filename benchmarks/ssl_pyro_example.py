"""Train the ss_vae_M2.py-style re-implementation and print its classification error.

    python -m benchmarks.ssl_pyro_example --epochs 20

What a user starting from Pyro's ``examples/vae/ss_vae_M2.py`` gets with the example's
command-line settings (aux loss multiplier 46, lr 0.00042, beta1 0.95, batch 200, 784-500
softplus, z = 50, y enumerated in parallel), on ppvae's data split: the same balanced
labelled subset (seed 0), the last 10,000 training images for validation, the rest
unlabelled. Prints validation and test error (argmax of q(y|x)) after each epoch and writes
``benchmarks/results/ss_example_train.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pyro
import torch

from benchmarks.common import guarded, machine, positive, results_path
from benchmarks.ss_baseline import ss_example_epoch, ss_example_setup, ss_loaders
from ppvae.config import load_config
from ppvae.data import load_data
from ppvae.data.labels import label_split

REPO = Path(__file__).resolve().parents[1]


def error(vae: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of images whose argmax of q(y|x) is not the label."""
    with torch.no_grad():
        return float((vae.encoder_y(x).argmax(-1) != y).sum()) / len(y)


@guarded
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data-dir")
    p.add_argument("--epochs", type=positive, default=20)
    p.add_argument("--labels", type=positive, default=100)
    p.add_argument("--lr", type=float, default=0.00042)
    p.add_argument("--beta1", type=float, default=0.95)
    p.add_argument("--out", default=str(results_path("ssl_pyro_example")))
    args = p.parse_args(argv)
    torch.manual_seed(0)
    pyro.set_rng_seed(0)
    cfg = load_config(REPO / "configs" / "m2_mnist.toml")
    data = load_data(cfg.data, args.data_dir)
    split = label_split(data.y_train, args.labels, 0, 10000, 10)
    x_l, y_l = data.x_train[split.labelled], data.y_train[split.labelled]
    x_v, y_v = data.x_train[split.valid], data.y_train[split.valid]
    vae, losses = ss_example_setup(args.lr, args.beta1)
    loaders = ss_loaders(x_l, y_l, data.x_train[split.unlabelled], batch_size=200, seed=0)
    rows = []
    for epoch in range(1, args.epochs + 1):
        tic = time.perf_counter()
        with pyro.validation_enabled(False):
            ss_example_epoch(losses, loaders)
        rows.append({"epoch": epoch, "seconds": time.perf_counter() - tic,
                     "valid_error": error(vae, x_v, y_v),
                     "test_error": error(vae, data.x_test, data.y_test)})
        print(f"epoch {epoch}: valid error {rows[-1]['valid_error']:.2%}, "
              f"test error {rows[-1]['test_error']:.2%} ({rows[-1]['seconds']:.0f} s)", flush=True)
    best = min(rows, key=lambda r: r["valid_error"])
    print(f"best validation error {best['valid_error']:.2%} at epoch {best['epoch']}: "
          f"test error {best['test_error']:.2%}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": machine(), "args": vars(args), "epochs": rows}, indent=2))
    print(f"saved {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
