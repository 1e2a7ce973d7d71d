"""Speed of one semi-supervised M2 epoch: ppvae vs. a Pyro ss_vae_M2.py-style baseline.

    python -m benchmarks.speed_m2 [--rounds 3] [--fraction 1]

Settings of the example: MNIST grey levels, 100 labels (balanced, seed 0), the last
10,000 training images held out, batch 200, 784-500 softplus MLPs, z = 50, y enumerated
in parallel. ppvae runs configs/m2_mnist.toml through its generic trainer's epoch (every
step also takes a labelled batch); the baseline interleaves its labelled batch once per
epoch and takes separate SVI steps for the ELBO and the auxiliary loss, as the example does.
Variants alternate (A B A B ...) for several rounds; prints median and min seconds per
epoch (training steps only, no evaluation) and the ratio. Writes
benchmarks/results/speed_m2_MACHINE_DATE.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import pyro
import torch

from benchmarks.common import fraction, guarded, machine, positive, results_path
from benchmarks.ss_baseline import ss_example_epoch, ss_example_setup, ss_loaders
from ppvae.config import load_config
from ppvae.data import load_data
from ppvae.data.labels import label_split
from ppvae.objectives import elbo_objective
from ppvae.pair import build_pair, checked
from ppvae.semi import SemiSupervisedObjective
from ppvae.train import make_optimizer, sgd_epoch

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "m2_mnist.toml"


def ppvae_variant(x_l: torch.Tensor, y_l: torch.Tensor, x_u: torch.Tensor
                  ) -> Callable[[], None]:
    cfg = load_config(CONFIG)
    from ppvae.data.base import DataSpec

    pair = checked(build_pair(cfg, DataSpec(x_dim=784, image_shape=(28, 28), num_classes=10)),
                   x_u[:2])
    t = cfg.train
    objective = SemiSupervisedObjective(elbo_objective(cfg, pair), cfg.semi, x_l, y_l,
                                        len(x_u), t.batch_size, seed=1)
    optim = make_optimizer(pair.parameters(), t.lr, t.adam_eps)
    gen = torch.Generator().manual_seed(0)

    def run() -> None:
        with pyro.validation_enabled(False):
            sgd_epoch(pair, objective, optim, x_u, torch.randperm(len(x_u), generator=gen),
                      t.batch_size)

    return run


def example_variant(x_l: torch.Tensor, y_l: torch.Tensor, x_u: torch.Tensor
                    ) -> Callable[[], None]:
    _, losses = ss_example_setup()
    loaders = ss_loaders(x_l, y_l, x_u, batch_size=200, seed=0)
    return lambda: ss_example_epoch(losses, loaders)


@guarded
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data-dir")
    p.add_argument("--rounds", type=positive, default=3)
    p.add_argument("--fraction", type=fraction, default=1.0,
                   help="time this fraction of the unlabelled images (scaled up to an epoch)")
    p.add_argument("--out", default=str(results_path("speed_m2")))
    args = p.parse_args(argv)
    torch.manual_seed(0)
    cfg = load_config(CONFIG)
    data = load_data(cfg.data, args.data_dir)
    split = label_split(data.y_train, cfg.semi.labels, cfg.semi.label_seed, cfg.semi.n_valid, 10,
                        cfg.semi.label_rng)
    x_u_full = data.x_train[split.unlabelled]
    n = int(len(x_u_full) * args.fraction)
    x_u, scale = x_u_full[:n].contiguous(), len(x_u_full) / n
    x_l, y_l = data.x_train[split.labelled], data.y_train[split.labelled]
    variants = {"ppvae m2": ppvae_variant(x_l, y_l, x_u),
                "ss_vae_M2 style": example_variant(x_l, y_l, x_u)}
    times: dict[str, list[float]] = {k: [] for k in variants}
    names = list(variants)
    for r in range(args.rounds):
        for name in names[r % 2:] + names[: r % 2]:
            tic = time.perf_counter()
            variants[name]()
            times[name].append((time.perf_counter() - tic) * scale)
        print(f"round {r + 1}/{args.rounds}: " + ", ".join(
            f"{k} {v[-1]:.1f} s" for k, v in times.items()), flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = med["ppvae m2"] / med["ss_vae_M2 style"]
    print(f"\nM2 epoch: {len(x_u_full)} unlabelled + {len(x_l)} labelled images, batch 200, "
          f"{args.rounds} rounds, fraction {args.fraction}; torch {torch.__version__}, "
          f"pyro {pyro.__version__}, threads {torch.get_num_threads()}")
    print(f"{'variant':<18}{'median s':>10}{'min s':>9}")
    for k in names:
        print(f"{k:<18}{med[k]:>10.1f}{min(times[k]):>9.1f}")
    print(f"ratio ppvae / ss_vae_M2 style (median): {ratio:.2f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "times": times, "median_s": med, "ratio": ratio, "rounds": args.rounds,
        "fraction": args.fraction, "torch": torch.__version__, "pyro": pyro.__version__,
        "threads": torch.get_num_threads(),
        "machine": machine(),
    }, indent=2))
    print(f"saved {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
