"""Small MLP building blocks shared by models and guides."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import cast

import torch
from torch import nn
from torch.nn import functional as F

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


class LabelledLinear(nn.Module):
    """``Linear([t, one_hot(y)])`` computed as ``W_t t + W_y[y] + b``.

    The same function and initialisation as a Linear layer on the concatenation, but when
    ``y`` is enumerated over the classes (shape (C, 1)) and ``t`` is shared (shape (N, d)),
    ``W_t t`` is computed once instead of C times.
    """

    def __init__(self, in_dim: int, num_classes: int, out_dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_dim, out_dim)
        self.label_weight = nn.Parameter(torch.empty(num_classes, out_dim))
        bound = 1 / math.sqrt(in_dim + num_classes)  # nn.Linear's init for the concatenation
        for p in (self.linear.weight, self.linear.bias, self.label_weight):
            nn.init.uniform_(p, -bound, bound)

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        # one_hot(y) @ W_y is W_y[y] exactly; its gradient is a matrix product, where that of
        # indexing is an accumulation that several CPU threads make in a varying order
        one_hot = F.one_hot(y.long(), self.label_weight.shape[0]).to(self.label_weight.dtype)
        return self.linear(t) + one_hot @ self.label_weight


class LabelledMLP(nn.Module):
    """An MLP on ``[t, one_hot(y)]`` whose first layer is a :class:`LabelledLinear`."""

    def __init__(self, in_dim: int, num_classes: int, hidden: Sequence[int], act: str) -> None:
        super().__init__()
        if not hidden:
            raise ConfigError("a labelled MLP needs at least one hidden layer")
        self.first = LabelledLinear(in_dim, num_classes, hidden[0])
        self.rest, self.width = mlp(hidden[0], hidden[1:], act)
        self.rest.insert(0, activation(act))

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.rest(self.first(t, y))


INITS = ("default", "glorot")


def init_weights(module: nn.Module, how: str) -> None:
    """``glorot``: Glorot-uniform weights and zero biases for every linear layer of ``module``
    (as Burda et al.'s code), a :class:`LabelledLinear` taken as the layer on its
    concatenated input; ``default``: PyTorch's initialization, left as it is."""
    if how == "default":
        return
    if how != "glorot":
        raise ConfigError(f"unknown init {how!r}; valid: {', '.join(INITS)}")
    inner = {id(m.linear) for m in module.modules() if isinstance(m, LabelledLinear)}
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, LabelledLinear):
                fan_in = m.linear.in_features + m.label_weight.shape[0]
                bound = math.sqrt(6.0 / (fan_in + m.linear.out_features))
                m.linear.weight.uniform_(-bound, bound)
                m.label_weight.uniform_(-bound, bound)
                m.linear.bias.zero_()
            elif isinstance(m, nn.Linear) and id(m) not in inner:
                nn.init.xavier_uniform_(m.weight)
                m.bias.zero_()


def plain(owner: nn.Module, name: str) -> nn.Module:
    """The submodule ``owner.<name>``, read straight from the module table.

    On a ``PyroModule``, reading a plain ``nn.Module`` attribute during a call re-registers
    each of its parameters in Pyro's global param store (``pyro.module``), ten effect-handler
    calls per VAE step. ppvae trains module parameters with one torch optimizer and never
    reads that store, so its models and guides skip the registration this way (Pyro's
    ``module_local_params`` setting still sends a message per parameter; the cost of both
    is measured by ``benchmarks/speed_modules.py``).
    """
    # the table's values are typed optional; a registered submodule is never None
    return cast(nn.Module, owner._modules[name])
