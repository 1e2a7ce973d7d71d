"""``model.output_bias = "data"``: a fresh decoder starts at the mean of the training inputs."""

from __future__ import annotations

import pytest
import torch

from ppvae.config import from_dict
from ppvae.data.base import DataSpec, TensorData
from ppvae.distributed import Context
from ppvae.likelihoods import make_head
from ppvae.models import M2, VAE, M2Options, VAEOptions
from ppvae.train import setup


def pixels(n: int = 40) -> torch.Tensor:
    """Grey levels whose first column is always 0 and second always 1 (clipped means)."""
    x = torch.rand(n, 6, generator=torch.Generator().manual_seed(0))
    x[:, 0], x[:, 1] = 0.0, 1.0
    return x


def test_bernoulli_bias_is_the_clipped_logit_of_the_mean():
    x = pixels()
    model = VAE(VAEOptions(z_dim=2, hidden=(5,), output_bias="data"), DataSpec(x_dim=6))
    model.init_from_data(x)
    bias = model.head.logits.bias.detach()
    expected = torch.logit(x.mean(0).clamp(1e-3, 1 - 1e-3))
    torch.testing.assert_close(bias, expected)
    assert bias[0] == pytest.approx(-6.9068, abs=1e-4)  # log(0.001 / 0.999)
    # a decoder whose hidden units give 0 then predicts the data mean
    probs = torch.sigmoid(model.head.logits(torch.zeros(1, 5)))[0]
    torch.testing.assert_close(probs[2:], x.mean(0)[2:])


def test_default_leaves_the_bias_alone():
    x = pixels()
    model = VAE(VAEOptions(z_dim=2, hidden=(5,)), DataSpec(x_dim=6))
    before = model.head.logits.bias.detach().clone()
    model.init_from_data(x)
    torch.testing.assert_close(model.head.logits.bias.detach(), before)


@pytest.mark.parametrize(("kind", "mean"), [("gaussian", "identity"), ("gaussian", "sigmoid"),
                                            ("gaussian_fixed", "identity")])
def test_gaussian_heads_start_at_the_mean(kind, mean):
    x = pixels() * 0.5 + 0.2
    head = make_head(kind, 5, 6, mean, 0.01, 0.1)
    head.init_bias(x.mean(0))
    got = head(torch.zeros(1, 5)).mean[0]
    torch.testing.assert_close(got, x.mean(0))


def test_m2_takes_the_option_too():
    x = pixels()
    model = M2(M2Options(z_dim=2, hidden=(5,), output_bias="data"),
               DataSpec(x_dim=6, num_classes=3))
    model.init_from_data(x)
    torch.testing.assert_close(model.head.logits.bias.detach(),
                               torch.logit(x.mean(0).clamp(1e-3, 1 - 1e-3)))


def test_a_fresh_training_run_applies_it():
    x = pixels()
    data = TensorData("toy", DataSpec(x_dim=6), x, x[:8])
    raw = {"data": {"name": "toy2d"}, "model": {"name": "vae", "z_dim": 2, "hidden": [5]},
           "guide": {"name": "normal", "z_dim": 2, "hidden": [5]},
           "train": {"batch_size": 10}}
    expected = torch.logit(x.mean(0).clamp(1e-3, 1 - 1e-3))
    raw["model"]["output_bias"] = "data"
    pair, _, _ = setup(from_dict(raw), data, Context())
    torch.testing.assert_close(pair.model.head.logits.bias.detach(), expected)
    raw["model"]["output_bias"] = "default"
    pair, _, _ = setup(from_dict(raw), data, Context())
    assert not torch.allclose(pair.model.head.logits.bias.detach(), expected)


def test_unknown_value_is_refused():
    from ppvae.errors import ConfigError

    raw = {"data": {"name": "toy2d"}, "model": {"name": "vae", "output_bias": "mean"},
           "guide": {"name": "normal"}}
    with pytest.raises(ConfigError, match="output_bias"):
        from_dict(raw)
