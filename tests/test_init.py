"""``init = "glorot"``: Glorot-uniform weights and zero biases in every linear layer."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from ppvae.data.base import DataSpec
from ppvae.guides import M2Guide, M2GuideOptions, NormalGuide, NormalGuideOptions
from ppvae.models import M2, VAE, M2Options, VAEOptions
from ppvae.nets import LabelledLinear, init_weights

SPEC = DataSpec(x_dim=300, num_classes=10)
BUILDERS = [
    lambda init: VAE(VAEOptions(z_dim=20, hidden=(200, 100), init=init), SPEC),
    lambda init: M2(M2Options(z_dim=20, hidden=(200,), init=init), SPEC),
    lambda init: NormalGuide(NormalGuideOptions(z_dim=20, hidden=(200,), init=init), SPEC),
    lambda init: M2Guide(M2GuideOptions(z_dim=20, hidden=(200,), classifier_hidden=(100,),
                                        init=init), SPEC),
]


def layers(module: nn.Module) -> list[tuple[float, list[torch.Tensor], torch.Tensor]]:
    """(Glorot bound, weights, bias) of each linear layer, a labelled one as one layer."""
    inner = {id(m.linear) for m in module.modules() if isinstance(m, LabelledLinear)}
    out = []
    for m in module.modules():
        if isinstance(m, LabelledLinear):
            fan_in = m.linear.in_features + m.label_weight.shape[0]
            bound = math.sqrt(6 / (fan_in + m.linear.out_features))
            out.append((bound, [m.linear.weight, m.label_weight], m.linear.bias))
        elif isinstance(m, nn.Linear) and id(m) not in inner:
            out.append((math.sqrt(6 / (m.in_features + m.out_features)), [m.weight], m.bias))
    return out


@pytest.mark.parametrize("build", BUILDERS)
def test_glorot_layers_are_uniform_within_their_bound_with_zero_biases(build):
    found = layers(build("glorot"))
    assert found
    for bound, weights, bias in found:
        w = torch.cat([t.detach().flatten() for t in weights])
        assert bool((bias == 0).all())
        assert float(w.abs().max()) <= bound
        if w.numel() >= 2000:  # the std of U(-b, b) is b / sqrt(3)
            assert float(w.std()) == pytest.approx(bound / math.sqrt(3), rel=0.1)


@pytest.mark.parametrize("build", BUILDERS)
def test_default_keeps_pytorchs_initialization(build):
    # PyTorch draws biases too, and its weight bound 1/sqrt(fan_in) is not Glorot's
    biases = [bias for _, _, bias in layers(build("default"))]
    assert all(bool((b != 0).any()) for b in biases)


def test_an_unknown_init_is_refused():
    from ppvae.config import from_dict
    from ppvae.errors import ConfigError

    with pytest.raises(ConfigError, match="init"):
        from_dict({"data": {"name": "toy2d"}, "model": {"name": "vae", "init": "he"},
                   "guide": {"name": "normal"}})
    with pytest.raises(ConfigError, match="valid: default, glorot"):
        init_weights(nn.Linear(2, 2), "he")


def test_glorot_and_the_data_bias_together():
    x = torch.rand(50, 300)
    model = VAE(VAEOptions(z_dim=4, hidden=(8,), init="glorot", output_bias="data"), SPEC)
    model.init_from_data(x)
    torch.testing.assert_close(model.head.logits.bias.detach(),
                               torch.logit(x.mean(0).clamp(1e-3, 1 - 1e-3)))
    assert bool((model.decoder[0].bias == 0).all())
