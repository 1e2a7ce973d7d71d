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


def plain(owner: nn.Module, name: str) -> nn.Module:
    """The submodule ``owner.<name>``, read straight from the module table.

    On a ``PyroModule``, reading a plain ``nn.Module`` attribute during a call re-registers
    each of its parameters in Pyro's global param store (``pyro.module``), ten effect-handler
    calls per VAE step. ppvae trains module parameters with one torch optimizer and never
    reads that store, so its models and guides skip the registration this way.
    """
    return owner._modules[name]
