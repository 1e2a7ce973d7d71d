"""Observation heads: map decoder features to p(x|z)."""

from __future__ import annotations

import pyro.distributions as dist
import torch
from torch import nn
from torch.nn import functional as F

from ppvae.errors import ConfigError

MEAN_CLIP = 1e-3  # Burda et al.'s clip of the data mean before its logit


def _clipped_logit(mean: torch.Tensor) -> torch.Tensor:
    return torch.logit(mean.clamp(MEAN_CLIP, 1 - MEAN_CLIP))


def _set_bias(layer: nn.Linear, value: torch.Tensor) -> None:
    with torch.no_grad():
        layer.bias.copy_(value.to(layer.bias))


class LogitBernoulli(dist.Bernoulli):
    """Bernoulli by logits; without autograd, log_prob is ``x * l - softplus(l)``.

    The same value as Pyro's binary-cross-entropy form with one new tensor instead of
    four, which makes the importance-sampled log p(x) faster (BENCHMARKS.md); with autograd
    the default form is kept.
    """

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled():
            return super().log_prob(value)
        if self._validate_args:
            self._validate_sample(value)
        logits = self.logits
        out = F.softplus(logits)
        shape = torch.broadcast_shapes(out.shape, value.shape)
        if out.shape != shape:
            out = out.expand(shape).clone()
        return out.addcmul_(value, logits, value=-1).neg_()


class BernoulliHead(nn.Module):
    """Bernoulli parametrized by logits (grey levels in [0, 1] allowed as soft targets)."""

    def __init__(self, width: int, x_dim: int) -> None:
        super().__init__()
        self.logits = nn.Linear(width, x_dim)

    def forward(self, h: torch.Tensor) -> dist.TorchDistribution:
        return LogitBernoulli(logits=self.logits(h), validate_args=False).to_event(1)

    def init_bias(self, mean: torch.Tensor) -> None:
        """Start at p(x) = ``mean`` for a zero input: the logit of the mean, clipped."""
        _set_bias(self.logits, _clipped_logit(mean))


class _GaussianMean(nn.Module):
    """A Gaussian head's mean layer ``loc``, through a sigmoid when ``sigmoid_mean``."""

    loc: nn.Linear
    sigmoid_mean: bool

    def init_bias(self, mean: torch.Tensor) -> None:
        """Start at the mean ``mean`` for a zero input."""
        _set_bias(self.loc, _clipped_logit(mean) if self.sigmoid_mean else mean)


SCALE_LINKS = ("softplus", "logvar")


def check_link(link: str) -> None:
    """Refuse a scale link other than those of ``SCALE_LINKS``."""
    if link not in SCALE_LINKS:
        raise ConfigError(f"unknown scale link {link!r}; valid: {', '.join(SCALE_LINKS)}")


def std_from(out: torch.Tensor, link: str) -> torch.Tensor:
    """A standard deviation from a layer's output: ``softplus(out)``, or ``exp(out / 2)``
    where ``link`` is ``logvar`` (the output is a log-variance)."""
    if link == "softplus":
        return F.softplus(out)
    check_link(link)
    return out.mul(0.5).exp()


class GaussianHead(_GaussianMean):
    """Diagonal Gaussian with a learned per-dimension std (by ``link``), plus ``min_scale``."""

    def __init__(self, width: int, x_dim: int, sigmoid_mean: bool, min_scale: float,
                 link: str = "softplus") -> None:
        super().__init__()
        check_link(link)
        self.loc = nn.Linear(width, x_dim)
        self.scale = nn.Linear(width, x_dim)
        self.sigmoid_mean = sigmoid_mean
        self.min_scale = min_scale
        self.link = link

    def forward(self, h: torch.Tensor) -> dist.TorchDistribution:
        loc = self.loc(h)
        if self.sigmoid_mean:
            loc = torch.sigmoid(loc)
        scale = std_from(self.scale(h), self.link) + self.min_scale
        return dist.Normal(loc, scale).to_event(1)


class FixedGaussianHead(_GaussianMean):
    """Diagonal Gaussian with a fixed std."""

    def __init__(self, width: int, x_dim: int, sigmoid_mean: bool, scale: float) -> None:
        super().__init__()
        self.loc = nn.Linear(width, x_dim)
        self.sigmoid_mean = sigmoid_mean
        self.fixed_scale = scale

    def forward(self, h: torch.Tensor) -> dist.TorchDistribution:
        loc = self.loc(h)
        if self.sigmoid_mean:
            loc = torch.sigmoid(loc)
        return dist.Normal(loc, self.fixed_scale).to_event(1)


Head = BernoulliHead | GaussianHead | FixedGaussianHead


def make_head(
    kind: str, width: int, x_dim: int, mean: str, min_scale: float, fixed_scale: float,
    scale: str = "softplus",
) -> Head:
    """The observation head for ``kind`` (bernoulli, gaussian, gaussian_fixed); ``scale``
    is the learned std's link (``softplus`` or ``logvar``)."""
    sigmoid_mean = mean == "sigmoid"
    if kind == "bernoulli":
        return BernoulliHead(width, x_dim)
    if kind == "gaussian":
        return GaussianHead(width, x_dim, sigmoid_mean, min_scale, scale)
    if kind == "gaussian_fixed":
        return FixedGaussianHead(width, x_dim, sigmoid_mean, fixed_scale)
    raise ConfigError(f"unknown likelihood {kind!r}; valid: bernoulli, gaussian, gaussian_fixed")
