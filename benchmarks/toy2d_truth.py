"""The 2-D toy against its true density: true mean log p(x), the model's ELBO and its
importance-sampled log-likelihood on fresh test points, and a 3-panel figure.

    python -m benchmarks.toy2d_truth runs/toy2d --n 10000 --k 1000 --out docs/toy2d_truth.png
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import torch

from benchmarks.common import guarded, positive, seed_value
from ppvae import load
from ppvae.data.toy2d import curve, sample_toy2d, toy2d_log_density
from ppvae.errors import ConfigError
from ppvae.latent import decode
from ppvae.loglik import log_likelihood
from ppvae.plots import save


def density_figure(run, noise: float, k: int):
    """True density, model density (importance sampled) and the learned curve."""
    from matplotlib.figure import Figure

    xs, ys = torch.linspace(-0.1, 1.1, 121), torch.linspace(-0.2, 1.1, 131)
    gx, gy = torch.meshgrid(xs, ys, indexing="xy")
    pts = torch.stack([gx.reshape(-1), gy.reshape(-1)], -1)
    true = toy2d_log_density(pts, noise).reshape(gx.shape).exp()
    model = log_likelihood(run.pair, pts, k=k)[0].reshape(gx.shape).exp()
    fig = Figure(figsize=(15, 4.6))
    axes = fig.subplots(1, 3, sharex=True, sharey=True)
    vmax = float(true.quantile(0.995))
    for ax, img, title in ((axes[0], true, "true density"),
                           (axes[1], model, f"model density (IS, k={k})")):
        ax.imshow(img.clamp(max=vmax).numpy(), origin="lower", extent=(-0.1, 1.1, -0.2, 1.1),
                  cmap="magma", aspect="auto")
        ax.set_title(title)
    zz = torch.linspace(-3, 3, 301).unsqueeze(-1)
    px = decode(run.pair, zz, 2)
    loc, sd = px.mean, px.variance.sqrt()
    axes[2].plot(loc[:, 0], loc[:, 1], "k-", lw=1, label="mean of p(x|z), z in [-3, 3]")
    axes[2].scatter(loc[::10, 0], loc[::10, 1], s=(sd[::10].mean(1) * 3000).numpy(),
                    facecolors="none", edgecolors="C0", label="learned std (circle size)")
    axes[2].legend(loc="upper left")
    axes[2].set_title("learned curve")
    fig.tight_layout()
    return fig


EDGES = (0.0, 0.02, 0.1, 0.3, 0.6, 1.0)
TAIL_Z = (-4.0, -3.5, -3.0, -2.5, -2.0, -1.5, -1.0, 0.0, 1.0, 2.0)


def ideal_decoder(z: torch.Tensor, noise: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std of the exact p(x|z) for a N(0, 1) latent: the true latent is Phi(z)."""
    t = torch.distributions.Normal(0.0, 1.0).cdf(z)
    return curve(t), noise * t**2


def latent_sign(mean_at: Callable[[torch.Tensor], torch.Tensor], noise: float) -> float:
    """+1 if a decoder's mean runs along the curve as the exact one does, -1 if it runs the
    other way (z -> -z leaves the N(0, 1) prior unchanged, so training may pick either)."""
    z = torch.linspace(-2.0, 2.0, 41)
    exact = ideal_decoder(z, noise)[0]
    same = (mean_at(z) - exact).norm(dim=-1).mean()
    flipped = (mean_at(-z) - exact).norm(dim=-1).mean()
    return 1.0 if same <= flipped else -1.0


def decoder_vs_ideal(run, noise: float, zs: tuple[float, ...] = TAIL_Z
                     ) -> list[dict[str, float]]:
    """The learned decoder's mean and std (per dimension) next to the exact ones, the learned
    latent reflected first if the model runs along the curve the other way."""
    sign = latent_sign(lambda t: decode(run.pair, t.unsqueeze(-1), 2).mean, noise)
    z = torch.tensor(zs)
    px = decode(run.pair, sign * z.unsqueeze(-1), 2)
    loc, sd = ideal_decoder(z, noise)
    learned_sd = px.variance.sqrt()
    return [{"z": float(z[i]), "learned_z": sign * float(z[i]), "ideal_sd": float(sd[i]),
             "sd_0": float(learned_sd[i, 0]), "sd_1": float(learned_sd[i, 1]),
             "loc_error": float((px.mean[i] - loc[i]).norm())} for i in range(len(zs))]


def gap_by_latent(gap: torch.Tensor, z: torch.Tensor, edges: tuple[float, ...] = EDGES
                  ) -> list[dict[str, float]]:
    """Per bin of the true latent: share of points, mean gap, and its share of the mean gap."""
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        inside = (z >= lo) & (z < hi) if hi < edges[-1] else (z >= lo) & (z <= hi)
        share = float(inside.float().mean())
        mean = float(gap[inside].mean()) if inside.any() else float("nan")
        rows.append({"z_from": lo, "z_to": hi, "share": share, "mean_gap": mean,
                     "contribution": float(gap[inside].sum() / gap.numel())})
    return rows


def positive_list(text: str) -> list[int]:
    """An argparse type: comma-separated integers >= 1."""
    return [positive(v) for v in text.split(",")]


@guarded
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("run")
    p.add_argument("--n", type=positive, default=10000)
    p.add_argument("--k", type=positive, default=1000)
    p.add_argument("--seed", type=seed_value, default=12345, help="seed of the fresh test points")
    p.add_argument("--out", help="PNG of the three panels")
    p.add_argument("--k-sweep", type=positive_list, default=[],
                   help="comma-separated k: the IS gap of the points with true z < 0.02 for "
                        "each (does the estimator or the model limit the fit there?)")
    args = p.parse_args(argv)
    run = load(args.run)
    if run.config.data.name != "toy2d":
        raise ConfigError(f"{args.run} was trained on {run.config.data.name!r}; this compares "
                          "a toy2d run with the exact density")
    noise = run.config.data.options.noise
    x, z = sample_toy2d(args.n, torch.Generator().manual_seed(args.seed), noise)
    tic = time.perf_counter()
    true = toy2d_log_density(x, noise)
    torch.manual_seed(0)
    lp, elbo = log_likelihood(run.pair, x, k=args.k)
    result = {
        "run": args.run, "n": args.n, "k": args.k, "seed": args.seed,
        "true_mean_log_density": float(true.mean()),
        "model_elbo": float(elbo.mean()),
        "model_log_px": float(lp.mean()),
        "gap_log_px": float(true.mean() - lp.mean()),
        "gap_elbo": float(true.mean() - elbo.mean()),
        "log_px_stderr_of_gap": float((true - lp).std() / args.n**0.5),
        "seconds": time.perf_counter() - tic,
        "by_true_z": gap_by_latent(true - lp, z),
    }
    for key, value in result.items():
        if key != "by_true_z":
            print(f"{key:24s} {value}")
    print("gap (true - IS) by the true latent z: share of points, mean gap, share of the total")
    for row in result["by_true_z"]:
        print(f"  z in [{row['z_from']:.2f}, {row['z_to']:.2f}): {row['share']:6.1%}  "
              f"{row['mean_gap']:7.3f}  {row['contribution']:7.3f}")
    result["decoder_vs_ideal"] = decoder_vs_ideal(run, noise)
    print("decoder at latent z: exact std (true latent Phi(z)), learned std per dimension "
          "(at the learned latent, reflected if the model runs the other way), distance of "
          "the learned mean from the exact one")
    for row in result["decoder_vs_ideal"]:
        print(f"  z = {row['z']:5.1f} (learned {row['learned_z']:5.1f}): exact "
              f"{row['ideal_sd']:.1e}  learned {row['sd_0']:.1e} "
              f"{row['sd_1']:.1e}  mean off by {row['loc_error']:.1e}")
    if args.k_sweep:
        near = z < EDGES[1]
        result["k_sweep"] = []
        for k in args.k_sweep:
            torch.manual_seed(0)
            lp_k, _ = log_likelihood(run.pair, x[near], k=k)
            gap_k = float((true[near] - lp_k).mean())
            result["k_sweep"].append({"k": k, "points": int(near.sum()), "mean_gap": gap_k})
            print(f"  z < {EDGES[1]}: {int(near.sum())} points, k = {k}: mean gap {gap_k:.3f}")
    Path(args.run, "toy2d_truth.json").write_text(json.dumps(result, indent=2))
    if args.out:
        print(f"saved {save(density_figure(run, noise, min(args.k, 500)), args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
