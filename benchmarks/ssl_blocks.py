"""Where a semi-supervised classifier errs: error per block of consecutive images.

    python -m benchmarks.ssl_blocks runs/m1m2k_l100_s0 [--best] [--block 5000]

Prints the error on the validation and test images, on each half of the test set (MNIST's
two halves come from different writers), per block of the training images (unlabelled ones
included; the last blocks are the validation set) and per block of the test images. A
validation error far under the test error, with the unlabelled training images erred on as
often as the test images, says the validation images are easier for this classifier.
"""

from __future__ import annotations

import argparse
import sys

import torch

from benchmarks.common import positive, semi_run
from ppvae.data.labels import label_split
from ppvae.errors import ConfigError, PPVAEError


def error(pred: torch.Tensor, y: torch.Tensor) -> float:
    """The fraction of rows where ``pred`` differs from ``y``."""
    return float((pred != y).float().mean())


def block_errors(pred: torch.Tensor, y: torch.Tensor, block: int) -> list[float]:
    """Error rate of ``pred`` against ``y`` over consecutive blocks of ``block`` rows (the
    last block may be shorter)."""
    if block < 1:
        raise ConfigError(f"block must be >= 1, got {block}")
    return [error(pred[i:i + block], y[i:i + block]) for i in range(0, y.numel(), block)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run")
    p.add_argument("--best", action="store_true", help="best.pt instead of the last checkpoint")
    p.add_argument("--block", type=positive, default=5000, help="images per training-set block")
    p.add_argument("--data-dir", default=None)
    args = p.parse_args(argv)
    try:
        run, semi, data, classes = semi_run(args.run, args.data_dir,
                                            "best.pt" if args.best else "checkpoint.pt")
        split = label_split(data.y_train, semi.labels, semi.label_seed, semi.n_valid, classes,
                            semi.label_rng)
        with torch.no_grad():
            p_train, p_test = run.predict(data.x_train), run.predict(data.x_test)
        test_block = max(1, data.n_test // 10)
        rows = {"train": block_errors(p_train, data.y_train, args.block),
                "test": block_errors(p_test, data.y_test, test_block)}
    except PPVAEError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    valid = split.valid.to(p_train.device)
    half = data.n_test // 2
    v_err = error(p_train[valid], data.y_train[valid])
    t_err, t1, t2 = (error(p_test[s], data.y_test[s])
                     for s in (slice(None), slice(None, half), slice(half, None)))
    print(f"{args.run} ({'best.pt' if args.best else 'checkpoint.pt'}): validation "
          f"{v_err:.2%}, test {t_err:.2%} (first half {t1:.2%}, second half {t2:.2%})")
    print(f"training images per {args.block} (the last {semi.n_valid} are the validation set):")
    print("  " + " ".join(f"{e:.2%}" for e in rows["train"]))
    print(f"test images per {test_block}:")
    print("  " + " ".join(f"{e:.2%}" for e in rows["test"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
