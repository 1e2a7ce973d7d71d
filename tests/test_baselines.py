"""The speed benchmark's references compute the same objective as ppvae's ``trace`` loss.

A ratio against a reference means something only if both sides train the same thing:
with the same weights and the same noise draw, each reference's loss equals ppvae's.
"""

from __future__ import annotations

import pyro
import pytest
import torch
from pyro.infer import Trace_ELBO

from benchmarks.baselines import BarePyroVAE, Decoder, Encoder, PlainVAE, PyroExampleVAE
from ppvae.data.base import DataSpec
from ppvae.elbos import make_elbo
from ppvae.guides import NormalGuide, NormalGuideOptions
from ppvae.models import VAE, VAEOptions
from ppvae.objectives import ElboObjective
from ppvae.pair import Pair

Z, H = 4, 16


def ppvae_pair() -> Pair:
    spec = DataSpec(x_dim=784)
    return Pair(VAE(VAEOptions(z_dim=Z, hidden=(H,)), spec),
                NormalGuide(NormalGuideOptions(z_dim=Z, hidden=(H,)), spec))


def copy_into(pair: Pair, encoder: Encoder, decoder: Decoder) -> None:
    """Give the reference networks the ppvae pair's weights."""
    pairs = [(encoder.fc1, pair.guide.encoder[0]), (encoder.fc21, pair.guide.loc),
             (encoder.fc22, pair.guide.log_scale), (decoder.fc1, pair.model.decoder[0]),
             (decoder.fc21, pair.model.head.logits)]
    with torch.no_grad():
        for ref, ours in pairs:
            ref.weight.copy_(ours.weight)
            ref.bias.copy_(ours.bias)


def reference(kind: str, pair: Pair):
    """The reference's loss function, with the pair's weights."""
    ref = {"plain": PlainVAE, "bare": BarePyroVAE, "example": PyroExampleVAE}[kind](Z, H)
    copy_into(pair, ref.encoder, ref.decoder)
    if kind == "example":
        return lambda x: Trace_ELBO().differentiable_loss(ref.model, ref.guide, x)
    return ref.loss


@pytest.mark.parametrize(("kind", "rtol"), [("plain", 1e-5), ("bare", 1e-5), ("example", 1e-4)])
def test_reference_loss_equals_ppvae_trace_loss(kind, rtol):
    pair = ppvae_pair()
    x = torch.bernoulli(torch.full((6, 784), 0.3))
    loss = reference(kind, pair)
    pyro.set_rng_seed(7)
    ours = ElboObjective(make_elbo("trace"))(pair.model, pair.guide, x, None)
    pyro.set_rng_seed(7)  # the same standard-normal draw for z
    torch.testing.assert_close(loss(x), ours, rtol=rtol, atol=1e-3)
    pyro.set_rng_seed(8)  # a different draw gives a different loss: the check can fail
    assert not torch.allclose(loss(x), ours, rtol=rtol, atol=1e-3)


def test_paired_ratio_is_the_median_of_per_round_ratios():
    from benchmarks.speed import paired_ratio

    assert paired_ratio([2.0, 9.0, 3.0], [1.0, 3.0, 3.0]) == 2.0
    with pytest.raises(ValueError):
        paired_ratio([1.0, 2.0], [1.0])
