"""How hard is a labelled draw? Simple classifiers trained on the labelled images alone.

    python -m benchmarks.label_draws runs/m1m2g6_l100_s0 [--seeds 0 1 2] [--rngs torch numpy]

For each label draw (``semi.label_rng`` × ``semi.label_seed``, the run's ``semi.labels`` and
``semi.n_valid``), fits a 1-nearest-neighbour classifier and an L2-regularised logistic
regression on the run's inputs (for a run on VAE features, the features' means) of the
labelled images only, and prints their error on the validation images, on the test images
and on each half of the test set (MNIST's two halves come from different writers). It says
how far draws differ for these classifiers, not how they will fare under M1+M2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

import torch
from torch.nn import functional as F

from benchmarks.common import seed_value, semi_run
from ppvae.data.labels import LABEL_RNGS, label_split
from ppvae.errors import PPVAEError


def nearest_neighbour(x_l: torch.Tensor, y_l: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The label of each row's nearest labelled row (Euclidean)."""
    return y_l[torch.cdist(x, x_l).argmin(1)]


def logistic_regression(x_l: torch.Tensor, y_l: torch.Tensor, num_classes: int,
                        l2: float = 1e-2) -> Callable[[torch.Tensor], torch.Tensor]:
    """A multinomial logistic regression fitted by L-BFGS to the labelled rows, with
    ``l2 * ||W||^2`` added to its mean cross-entropy; returns its predictor of labels."""
    w = torch.zeros(x_l.shape[1], num_classes, dtype=x_l.dtype, requires_grad=True)
    b = torch.zeros(num_classes, dtype=x_l.dtype, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=500, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(x_l @ w + b, y_l) + l2 * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    w, b = w.detach(), b.detach()
    return lambda x: (x @ w + b).argmax(1)


def error(pred: torch.Tensor, y: torch.Tensor) -> float:
    """The fraction of rows where ``pred`` differs from ``y``."""
    return float((pred != y).float().mean())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run")
    p.add_argument("--seeds", type=seed_value, nargs="+", default=[0, 1, 2])
    p.add_argument("--rngs", nargs="+", default=list(LABEL_RNGS), choices=LABEL_RNGS)
    p.add_argument("--data-dir", default=None)
    args = p.parse_args(argv)
    try:
        _, semi, data, classes = semi_run(args.run, args.data_dir)
        x_train = data.x_train.cpu().float().flatten(1)
        x_test = data.x_test.cpu().float().flatten(1)
        y_train, y_test = data.y_train.cpu(), data.y_test.cpu()
        pool = x_train[: x_train.shape[0] - semi.n_valid]
        mean, sd = pool.mean(0), pool.std(0).clamp_min(1e-6)
        x_train, x_test = (x_train - mean) / sd, (x_test - mean) / sd
        splits = {(rng, seed): label_split(y_train, semi.labels, seed, semi.n_valid, classes, rng)
                  for rng in args.rngs for seed in args.seeds}
    except PPVAEError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    half = y_test.numel() // 2
    print(f"{args.run}: {semi.labels} labels, inputs of dimension {x_train.shape[1]}; error %")
    print("rng   seed | 1-NN valid  test | logreg valid  test  (test halves)")
    for (rng, seed), split in splits.items():
        x_l, y_l = x_train[split.labelled], y_train[split.labelled]
        x_v, y_v = x_train[split.valid], y_train[split.valid]
        nn_v, nn_t = (nearest_neighbour(x_l, y_l, x) for x in (x_v, x_test))
        predict = logistic_regression(x_l, y_l, classes)
        lr_v, lr_t = predict(x_v), predict(x_test)
        t1, t2 = error(lr_t[:half], y_test[:half]), error(lr_t[half:], y_test[half:])
        print(f"{rng:5s} {seed:4d} | {error(nn_v, y_v):10.2%} {error(nn_t, y_test):5.2%} | "
              f"{error(lr_v, y_v):12.2%} {error(lr_t, y_test):5.2%}  ({t1:.2%} / {t2:.2%})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
