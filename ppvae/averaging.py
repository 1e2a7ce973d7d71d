"""Exponential moving average of the parameters (Polyak averaging) for evaluation and saving."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch


class ParamAverage:
    """An exponential moving average of ``params``, updated after every optimizer step.

    The decay at update ``t`` is ``min(decay, (1 + t) / (10 + t))``, so the first averages
    are not pulled towards the initial weights.
    """

    def __init__(self, params: list[torch.nn.Parameter], decay: float) -> None:
        if not 0 < decay < 1:
            raise ValueError(f"the average's decay must be in (0, 1); got {decay}")
        self.params = params
        self.decay = decay
        self.shadow = [p.detach().clone() for p in params]
        self.updates = 0

    @torch.no_grad()
    def update(self) -> None:
        """Move the average towards the current parameters."""
        self.updates += 1
        weight = 1 - min(self.decay, (1 + self.updates) / (10 + self.updates))
        for s, p in zip(self.shadow, self.params, strict=True):
            s.lerp_(p, weight)

    @torch.no_grad()
    def copy_to_params(self) -> None:
        """Put the averaged values into the parameters."""
        for p, s in zip(self.params, self.shadow, strict=True):
            p.copy_(s)

    @contextmanager
    def applied(self) -> Iterator[None]:
        """The averaged values in the parameters for the duration; the live ones after."""
        live = [p.detach().clone() for p in self.params]
        self.copy_to_params()
        try:
            yield
        finally:
            with torch.no_grad():
                for p, v in zip(self.params, live, strict=True):
                    p.copy_(v)

    def state_dict(self) -> dict[str, Any]:
        return {"shadow": self.shadow, "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        with torch.no_grad():
            for s, v in zip(self.shadow, state["shadow"], strict=True):
                s.copy_(v)
        self.updates = int(state["updates"])
