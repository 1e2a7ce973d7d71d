"""Reference implementations the benchmarks measure ppvae against.

* ``PlainVAE``: the same 784-H-Z softplus VAE and loss in plain PyTorch (logits,
  data as one tensor, one Adam).
* ``BarePyroVAE``: the leanest ``Trace_ELBO`` program for the same network: model and
  guide as plain methods (no ``PyroModule``), Bernoulli by logits, data as one tensor,
  one Adam: the floor for any code in which Pyro computes the bound.
* ``PyroExampleVAE``: the style of Pyro's ``examples/vae/vae.py``: Bernoulli with
  ``probs=sigmoid(...)``, ``pyro.optim.Adam`` (one torch Adam per parameter inside
  Pyro's param store), ``SVI.step`` and a per-item ``DataLoader``.
"""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch
from pyro.infer import SVI, Trace_ELBO
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

FUDGE = 1e-7


class Encoder(nn.Module):
    def __init__(self, z_dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(784, hidden)
        self.fc21 = nn.Linear(hidden, z_dim)
        self.fc22 = nn.Linear(hidden, z_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = F.softplus(self.fc1(x))
        return self.fc21(h), torch.exp(self.fc22(h))


class Decoder(nn.Module):
    def __init__(self, z_dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(z_dim, hidden)
        self.fc21 = nn.Linear(hidden, 784)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Logits of the pixels."""
        return self.fc21(F.softplus(self.fc1(z)))


class Networks(nn.Module):
    """The encoder and decoder every reference shares."""

    def __init__(self, z_dim: int = 50, hidden: int = 400) -> None:
        super().__init__()
        self.encoder = Encoder(z_dim, hidden)
        self.decoder = Decoder(z_dim, hidden)
        self.z_dim = z_dim


class PlainVAE(Networks):
    """The same network and negative ELBO in plain PyTorch."""

    def __init__(self, z_dim: int = 50, hidden: int = 400, analytic_kl: bool = False) -> None:
        super().__init__(z_dim, hidden)
        self.analytic_kl = analytic_kl

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        """Negative ELBO summed over the batch (one reparameterized sample)."""
        loc, scale = self.encoder(x)
        z = loc + scale * torch.randn_like(loc)
        logits = self.decoder(z)
        nll = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
        if self.analytic_kl:
            kl = 0.5 * (loc**2 + scale**2 - 1).sum() - scale.log().sum()
        else:  # log q(z|x) - log p(z), one sample
            log_q = (-0.5 * ((z - loc) / scale) ** 2 - scale.log()).sum()
            log_p = (-0.5 * z**2).sum()
            kl = log_q - log_p
        return nll + kl


class BarePyroVAE(Networks):
    """The same network, with the negative ELBO computed by Pyro's ``Trace_ELBO``."""

    def __init__(self, z_dim: int = 50, hidden: int = 400) -> None:
        super().__init__(z_dim, hidden)
        self.elbo = Trace_ELBO(max_plate_nesting=1)

    def model(self, x: torch.Tensor) -> None:
        with pyro.plate("data", x.shape[0]):
            loc = x.new_zeros(self.z_dim)
            z = pyro.sample("z", dist.Normal(loc, torch.ones_like(loc)).to_event(1))
            logits = self.decoder(z)
            pyro.sample("x", dist.Bernoulli(logits=logits, validate_args=False).to_event(1),
                        obs=x)

    def guide(self, x: torch.Tensor) -> None:
        with pyro.plate("data", x.shape[0]):
            loc, scale = self.encoder(x)
            pyro.sample("z", dist.Normal(loc, scale).to_event(1))

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        """Negative ELBO summed over the batch (Pyro's one-sample estimate)."""
        return self.elbo.differentiable_loss(self.model, self.guide, x)


def plain_epoch(model: PlainVAE | BarePyroVAE, optim: torch.optim.Optimizer, x: torch.Tensor,
                batch_size: int, generator: torch.Generator) -> float:
    """One epoch over ``x`` held as one tensor; returns the summed loss."""
    total = 0.0
    for idx in torch.randperm(x.shape[0], generator=generator).split(batch_size):
        loss = model.loss(x[idx])
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        total += loss.item()
    return total


class PyroExampleVAE(Networks):
    """Model and guide as in Pyro's examples/vae/vae.py."""

    def model(self, x: torch.Tensor) -> None:
        pyro.module("decoder", self.decoder)
        with pyro.plate("data", x.shape[0]):
            z_loc = x.new_zeros(torch.Size((x.shape[0], self.z_dim)))
            z_scale = x.new_ones(torch.Size((x.shape[0], self.z_dim)))
            z = pyro.sample("latent", dist.Normal(z_loc, z_scale).to_event(1))
            loc_img = (torch.sigmoid(self.decoder(z)) + FUDGE) * (1 - 2 * FUDGE)
            pyro.sample("obs", dist.Bernoulli(loc_img, validate_args=False).to_event(1),
                        obs=x.reshape(-1, 784))

    def guide(self, x: torch.Tensor) -> None:
        pyro.module("encoder", self.encoder)
        with pyro.plate("data", x.shape[0]):
            z_loc, z_scale = self.encoder(x)
            pyro.sample("latent", dist.Normal(z_loc, z_scale).to_event(1))


def pyro_example_setup(lr: float = 1e-3, z_dim: int = 50, hidden: int = 400
                       ) -> tuple[PyroExampleVAE, SVI]:
    """The example's VAE and SVI object (clears Pyro's param store first)."""
    pyro.clear_param_store()
    vae = PyroExampleVAE(z_dim, hidden)
    svi = SVI(vae.model, vae.guide, pyro.optim.Adam({"lr": lr}), loss=Trace_ELBO())
    return vae, svi


def per_item_loader(x: torch.Tensor, batch_size: int, seed: int) -> DataLoader:
    """A shuffled per-item DataLoader, as the example builds."""
    return DataLoader(TensorDataset(x, torch.zeros(x.shape[0])), batch_size=batch_size,
                      shuffle=True, generator=torch.Generator().manual_seed(seed))


def pyro_example_epoch(svi: SVI, loader: DataLoader) -> float:
    """One epoch of ``svi.step`` over the loader; returns the summed loss."""
    return sum(svi.step(x) for x, _ in loader)
