"""The talk's 2-D toy density: a noisy spiral arc driven by a 1-D latent."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ppvae.data.base import DataSpec, TensorData
from ppvae.errors import ConfigError
from ppvae.registry import DATASETS
from ppvae.typed import check_seed


@dataclass(frozen=True)
class Toy2dOptions:
    """Sizes, seed and noise scale (noise std = ``noise * z**2``)."""

    n_train: int = 10000
    n_test: int = 2000
    seed: int = 0
    noise: float = 0.1

    def validate(self) -> None:
        if self.n_train < 1 or self.n_test < 1:
            raise ConfigError("data.n_train and data.n_test must be >= 1")
        if not self.noise > 0:
            raise ConfigError(f"data.noise must be > 0; got {self.noise}")
        check_seed("data.seed", self.seed)


def curve(z: torch.Tensor) -> torch.Tensor:
    """The noiseless point for latent ``z`` in [0, 1]: r = sqrt(z), phi = (pi/4) z."""
    r, phi = z.sqrt(), (math.pi / 4) * z
    return torch.stack([r * phi.cos(), r * phi.sin()], dim=-1)


def sample_toy2d(
    n: int, generator: torch.Generator, noise: float = 0.1
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` points ``x`` and their latents ``z ~ U(0, 1)``."""
    z = torch.rand(n, generator=generator)
    eps = torch.randn(n, 2, generator=generator)
    return curve(z) + (noise * z**2).unsqueeze(-1) * eps, z


@DATASETS.register("toy2d", config=Toy2dOptions)
def load_toy2d(opts: Toy2dOptions, _root: object, _download: bool) -> TensorData:
    """Seeded train and test draws of the toy density."""
    # separate streams: the test set does not change with n_train
    xtr, _ = sample_toy2d(opts.n_train, torch.Generator().manual_seed(2 * opts.seed), opts.noise)
    xte, _ = sample_toy2d(opts.n_test, torch.Generator().manual_seed(2 * opts.seed + 1), opts.noise)
    return TensorData(name="toy2d", spec=DataSpec(x_dim=2), x_train=xtr, x_test=xte)


def _log_integrand(x: torch.Tensor, z: torch.Tensor, noise: float) -> torch.Tensor:
    """log N(x; curve(z), (noise z^2)^2 I) for x (B, 2) and z (B, G) -> (B, G), float64."""
    r, phi = z.sqrt(), (math.pi / 4) * z
    sd = noise * z**2
    d2 = (x[:, :1] - r * phi.cos()) ** 2 + (x[:, 1:] - r * phi.sin()) ** 2
    return -d2 / (2 * sd**2) - 2 * sd.log() - math.log(2 * math.pi)


def _width(z: torch.Tensor, noise: float) -> torch.Tensor:
    """Width in z of the integrand's peak at z: the noise std over the curve's speed."""
    speed = (1 / (4 * z) + (math.pi**2) * z / 16).sqrt()
    return noise * z**2 / speed


def _zoom(xb: torch.Tensor, zs: torch.Tensor, half: torch.Tensor, score, noise: float,
          rounds: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Narrow in on the z maximizing ``score`` around ``zs``; returns the fine window."""
    t = (torch.arange(401, dtype=torch.float64) + 0.5) / 401
    for _ in range(rounds):
        lo, hi = (zs - half).clamp(min=0.0), (zs + half).clamp(max=1.0)
        zg = lo[:, None] + (hi - lo)[:, None] * t
        zs = zg.gather(1, score(xb, zg).argmax(dim=1, keepdim=True))[:, 0]
        half = torch.maximum(40 * _width(zs, noise), 3 * (hi - lo) / 401)
    return (zs - half).clamp(min=0.0), (zs + half).clamp(max=1.0)


def _closeness(xb: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    r, phi = z.sqrt(), (math.pi / 4) * z
    return -((xb[:, :1] - r * phi.cos()) ** 2 + (xb[:, 1:] - r * phi.sin()) ** 2)


def toy2d_log_density(
    x: torch.Tensor, noise: float = 0.1, coarse: int = 4000, fine: int = 20001, zooms: int = 8
) -> torch.Tensor:
    """True log p(x) = log of the integral over z in (0, 1) of N(x; curve(z), (noise z^2)^2 I).

    The integrand is sharply peaked (its width in z shrinks like z^2.5 near the origin), so
    each point gets its own grid. Two candidate peaks are located on a coarse midpoint grid
    in u = sqrt(z) and refined by ``zooms`` rounds of 401-node grids: the curve point
    nearest to x, and the maximum of the integrand (which sits further out when x lies
    off the curve, where the noise is wider). A fine midpoint grid covers 40 local widths
    around each (the second window's nodes inside the first are left out); the coarse
    nodes outside both add the rest.
    Float64 throughout.
    """
    x = x.to(torch.float64).reshape(-1, 2)
    t = (torch.arange(fine, dtype=torch.float64) + 0.5) / fine
    u = (torch.arange(coarse, dtype=torch.float64) + 0.5) / coarse
    out = []
    for xb in x.split(256):
        b = xb.shape[0]
        zc = (u**2).expand(b, coarse)
        lc = _log_integrand(xb, zc, noise)
        windows = []
        for score, grid_score in ((_closeness, _closeness(xb, zc)), (None, lc)):
            zs = zc.gather(1, grid_score.argmax(dim=1, keepdim=True))[:, 0]
            half = torch.maximum(40 * _width(zs, noise), 6 * zs.sqrt() / coarse)
            fn = score or (lambda xx, zz: _log_integrand(xx, zz, noise))
            windows.append(_zoom(xb, zs, half, fn, noise, zooms))
        (lo1, hi1), (lo2, hi2) = windows
        neg = -math.inf
        zf1 = lo1[:, None] + (hi1 - lo1)[:, None] * t
        lf1 = _log_integrand(xb, zf1, noise) + ((hi1 - lo1) / fine).log()[:, None]
        zf2 = lo2[:, None] + (hi2 - lo2)[:, None] * t
        lf2 = _log_integrand(xb, zf2, noise) + ((hi2 - lo2) / fine).log()[:, None]
        in1 = (zf2 >= lo1[:, None]) & (zf2 <= hi1[:, None])  # window 2 minus window 1
        parts = [lf1, lf2.masked_fill(in1, neg)]
        covered = ((zc >= lo1[:, None]) & (zc <= hi1[:, None])) | (
            (zc >= lo2[:, None]) & (zc <= hi2[:, None]))
        weight = (2 * u / coarse).log().expand(b, coarse)  # dz = 2u du
        parts.append((lc + weight).masked_fill(covered, neg))
        out.append(torch.logsumexp(torch.cat(parts, dim=1), dim=1))
    return torch.cat(out)
