"""The talk's 2-D toy density: a noisy spiral arc driven by a 1-D latent."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ppvae.data.base import DataSpec, TensorData
from ppvae.errors import ConfigError
from ppvae.registry import DATASETS


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
def load_toy2d(opts: Toy2dOptions, root: object, download: bool) -> TensorData:
    """Seeded train and test draws of the toy density."""
    # separate streams: the test set does not change with n_train
    xtr, _ = sample_toy2d(opts.n_train, torch.Generator().manual_seed(2 * opts.seed), opts.noise)
    xte, _ = sample_toy2d(opts.n_test, torch.Generator().manual_seed(2 * opts.seed + 1), opts.noise)
    return TensorData(name="toy2d", spec=DataSpec(x_dim=2), x_train=xtr, x_test=xte)
