"""Concatenate a tensor with a one-hot label, broadcasting enumerated labels."""

from __future__ import annotations

import torch
from torch.nn import functional as F


def cat_onehot(t: torch.Tensor, y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``[t, one_hot(y)]`` on the last dim; ``y``'s batch shape may broadcast (enumeration)."""
    oh = F.one_hot(y.long(), num_classes).to(t.dtype)
    shape = torch.broadcast_shapes(t.shape[:-1], oh.shape[:-1])
    return torch.cat([t.expand(*shape, t.shape[-1]), oh.expand(*shape, num_classes)], dim=-1)
