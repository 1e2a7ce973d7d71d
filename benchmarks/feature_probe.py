"""How good are a VAE run's q(z|x) means as class features? (diagnostic for M1+M2)

    python -m benchmarks.feature_probe runs/m1_mnist [RUN ...] --data-dir ../shared/data \
        --labels 100 --seeds 0 1 2 [--pixels]

For each run: the active units (Burda et al. 2015: variance over the test images of
E_q[z_i | x] above 0.01), and the test error of two classifiers fitted on the ``labels``
labelled training images alone (the same balanced split as ``ppvae ssl``): a multinomial
logistic regression (L-BFGS, L2 1e-3, features standardized on the training set) and a
1-nearest-neighbour classifier. ``--pixels`` adds the same classifiers on grey pixels.
"""

from __future__ import annotations

import argparse

import torch

from ppvae.config import Component
from ppvae.data import load_data
from ppvae.data.features import VAEFeaturesOptions
from ppvae.data.labels import label_split
from ppvae.data.mnist import MNISTOptions


def logistic_error(x_l: torch.Tensor, y_l: torch.Tensor, x_t: torch.Tensor,
                   y_t: torch.Tensor, l2: float = 1e-3) -> float:
    """Test error of an L2-regularized multinomial logistic regression (full-batch L-BFGS)."""
    mu, sd = x_l.mean(0), x_l.std(0).clamp_min(1e-6)
    a, b = (x_l - mu) / sd, (x_t - mu) / sd
    w = torch.zeros(a.shape[1], 10, requires_grad=True)
    c = torch.zeros(10, requires_grad=True)
    opt = torch.optim.LBFGS([w, c], max_iter=500, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(a @ w + c, y_l) + l2 * (w**2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return float(((b @ w + c).argmax(-1) != y_t).sum()) / len(y_t)


def nn1_error(x_l: torch.Tensor, y_l: torch.Tensor, x_t: torch.Tensor, y_t: torch.Tensor
              ) -> float:
    """Test error of 1-nearest-neighbour (Euclidean) on the labelled images."""
    pred = y_l[torch.cdist(x_t, x_l).argmin(1)]
    return float((pred != y_t).sum()) / len(y_t)


def active_units(loc_test: torch.Tensor, threshold: float = 0.01) -> int:
    """Latent dimensions whose posterior mean varies across images (Burda et al. 2015)."""
    return int((loc_test.var(0) > threshold).sum())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("runs", nargs="*")
    p.add_argument("--data-dir")
    p.add_argument("--labels", type=int, default=100)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--pixels", action="store_true")
    args = p.parse_args(argv)
    torch.manual_seed(0)
    sources = [(r, Component("vae_features", VAEFeaturesOptions(run=r, sample=False)))
               for r in args.runs]
    if args.pixels:
        sources.insert(0, ("pixels", Component("mnist", MNISTOptions(pixels="grey"))))
    print(f"{'features':<28}{'active':>8}  " + "  ".join(
        f"seed {s}: logreg / 1-NN" for s in args.seeds))
    for name, cfg in sources:
        data = load_data(cfg, args.data_dir)
        active = "-" if name == "pixels" else str(active_units(data.x_test))
        cells = []
        for seed in args.seeds:
            split = label_split(data.y_train, args.labels, seed, 10000, 10)
            x_l, y_l = data.x_train[split.labelled], data.y_train[split.labelled]
            cells.append(f"{logistic_error(x_l, y_l, data.x_test, data.y_test):6.1%} / "
                         f"{nn1_error(x_l, y_l, data.x_test, data.y_test):6.1%}")
        print(f"{name:<28}{active:>8}  " + "  ".join(f"{c:>22}" for c in cells), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
