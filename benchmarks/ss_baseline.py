"""A re-implementation in the style of Pyro's ``examples/vae/ss_vae_M2.py`` (M2 + aux loss).

What users get when they start from that example: one-hot ``OneHotCategorical`` labels with
clipped-softmax ``probs``, Bernoulli with clipped-sigmoid ``probs``, ``pyro.module`` on every
call, ``pyro.optim.Adam`` (one torch Adam per parameter), separate ``SVI.step`` calls for the
ELBO and the auxiliary classification loss on supervised batches, per-item ``DataLoader``s,
and supervised batches interleaved periodically within the epoch.
"""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch
from pyro.infer import SVI, Trace_ELBO, TraceEnum_ELBO, config_enumerate
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

EPS = 1e-7


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-2], sizes[1:-1], strict=True):
        layers += [nn.Linear(a, b), nn.Softplus()]
    layers.append(nn.Linear(sizes[-2], sizes[-1]))
    return nn.Sequential(*layers)


class SSVAEExample(nn.Module):
    """M2 with the example's networks: softplus MLPs, z = 50, 10 classes."""

    def __init__(self, z_dim: int = 50, hidden: int = 500, aux_multiplier: float = 46.0) -> None:
        super().__init__()
        self.z_dim, self.aux = z_dim, aux_multiplier
        self.encoder_y = _mlp([784, hidden, 10])
        self.encoder_z = _mlp([784 + 10, hidden, 2 * z_dim])
        self.decoder = _mlp([z_dim + 10, hidden, 784])

    def _alpha(self, xs: torch.Tensor) -> torch.Tensor:
        return (torch.softmax(self.encoder_y(xs), -1) + EPS) / (1 + 10 * EPS)

    def model(self, xs: torch.Tensor, ys: torch.Tensor | None = None) -> None:
        pyro.module("ss_vae", self)
        n = xs.shape[0]
        with pyro.plate("data"):
            zs = pyro.sample("z", dist.Normal(xs.new_zeros(n, self.z_dim),
                                              xs.new_ones(n, self.z_dim)).to_event(1))
            ys = pyro.sample("y", dist.OneHotCategorical(xs.new_ones(n, 10) / 10), obs=ys)
            shape = torch.broadcast_shapes(zs.shape[:-1], ys.shape[:-1])
            h = torch.cat([zs.expand(*shape, self.z_dim), ys.expand(*shape, 10)], -1)
            loc = (torch.sigmoid(self.decoder(h)) + EPS) * (1 - 2 * EPS)
            pyro.sample("x", dist.Bernoulli(loc, validate_args=False).to_event(1), obs=xs)

    def guide(self, xs: torch.Tensor, ys: torch.Tensor | None = None) -> None:
        with pyro.plate("data"):
            if ys is None:
                ys = pyro.sample("y", dist.OneHotCategorical(self._alpha(xs)))
            shape = torch.broadcast_shapes(xs.shape[:-1], ys.shape[:-1])
            out = self.encoder_z(torch.cat([xs.expand(*shape, 784), ys.expand(*shape, 10)], -1))
            pyro.sample("z", dist.Normal(out[..., : self.z_dim],
                                         out[..., self.z_dim:].exp()).to_event(1))

    def model_classify(self, xs: torch.Tensor, ys: torch.Tensor | None = None) -> None:
        pyro.module("ss_vae", self)
        with pyro.plate("data"):
            if ys is not None:
                with pyro.poutine.scale(scale=self.aux):
                    pyro.sample("y_aux", dist.OneHotCategorical(self._alpha(xs)), obs=ys)

    def guide_classify(self, xs: torch.Tensor, ys: torch.Tensor | None = None) -> None:
        pass


def ss_example_setup(lr: float = 1e-3, beta1: float = 0.9) -> tuple[SSVAEExample, list[SVI]]:
    """The example's SSVAE and its two SVI objects sharing one ``pyro.optim.Adam``."""
    pyro.clear_param_store()
    vae = SSVAEExample()
    optim = pyro.optim.Adam({"lr": lr, "betas": (beta1, 0.999)})
    guide = config_enumerate(vae.guide, "parallel")
    elbo = SVI(vae.model, guide, optim, loss=TraceEnum_ELBO(max_plate_nesting=1))
    aux = SVI(vae.model_classify, vae.guide_classify, optim, loss=Trace_ELBO())
    return vae, [elbo, aux]


def ss_loaders(x_sup: torch.Tensor, y_sup: torch.Tensor, x_unsup: torch.Tensor,
               batch_size: int, seed: int) -> dict[str, DataLoader]:
    """Per-item shuffled loaders over one-hot labels, as the example builds them."""
    gen = torch.Generator().manual_seed(seed)
    onehot = torch.nn.functional.one_hot(y_sup, 10).float()
    return {
        "sup": DataLoader(TensorDataset(x_sup, onehot), batch_size=batch_size, shuffle=True,
                          generator=gen),
        "unsup": DataLoader(TensorDataset(x_unsup, torch.zeros(len(x_unsup))),
                            batch_size=batch_size, shuffle=True, generator=gen),
    }


def ss_example_epoch(losses: list[SVI], loaders: dict[str, DataLoader]) -> float:
    """The example's run_inference_for_epoch: supervised batches spread periodically."""
    sup_batches, unsup_batches = len(loaders["sup"]), len(loaders["unsup"])
    period = max(1, (sup_batches + unsup_batches) // sup_batches)
    sup_iter, unsup_iter = iter(loaders["sup"]), iter(loaders["unsup"])
    total, seen = 0.0, 0
    for i in range(sup_batches + unsup_batches):
        supervised = i % period == 1 % period and seen < sup_batches
        if supervised:
            xs, ys = next(sup_iter)
            seen += 1
            total += sum(loss.step(xs, ys) for loss in losses)
        else:
            xs, _ = next(unsup_iter)
            total += sum(loss.step(xs) for loss in losses)
    return total
