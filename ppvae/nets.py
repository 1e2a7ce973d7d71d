"""Small MLP building blocks shared by models and guides."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from ppvae.errors import ConfigError

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "softplus": nn.Softplus,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "sigmoid": nn.Sigmoid,
}


def activation(name: str) -> nn.Module:
    """An activation module by name."""
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        valid = ", ".join(sorted(ACTIVATIONS))
        raise ConfigError(f"unknown activation {name!r}; valid: {valid}") from None


def mlp(in_dim: int, hidden: Sequence[int], act: str) -> tuple[nn.Sequential, int]:
    """Hidden layers ``in_dim -> hidden...`` with activations; returns the net and its width."""
    layers: list[nn.Module] = []
    width = in_dim
    for h in hidden:
        layers += [nn.Linear(width, h), activation(act)]
        width = h
    return nn.Sequential(*layers), width
