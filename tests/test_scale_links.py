"""How a learned std comes from its layer: ``model.scale`` (softplus or logvar) and
``guide.scale`` (log_scale or logvar)."""

from __future__ import annotations

import math

import pyro.poutine as poutine
import pytest
import torch

from ppvae.data.base import DataSpec
from ppvae.errors import ConfigError
from ppvae.guides import M2Guide, M2GuideOptions
from ppvae.likelihoods import make_head, std_from
from ppvae.models import M2, M2Options, VAEOptions


def test_std_from_known_values():
    out = torch.tensor([0.0, 2 * math.log(3.0), -2 * math.log(4.0)])
    torch.testing.assert_close(std_from(out, "logvar"), torch.tensor([1.0, 3.0, 0.25]))
    torch.testing.assert_close(std_from(out[:1], "softplus"), torch.tensor([math.log(2.0)]))
    with pytest.raises(ConfigError, match="valid: softplus, logvar"):
        std_from(out, "exp")


@pytest.mark.parametrize(("link", "expected"), [("softplus", math.log1p(math.exp(1.2)) + 0.01),
                                                ("logvar", math.exp(0.6) + 0.01)])
def test_gaussian_head_std_by_link(link, expected):
    head = make_head("gaussian", 3, 4, "identity", 0.01, 0.1, link)
    with torch.no_grad():
        head.scale.weight.zero_()
        head.scale.bias.fill_(1.2)
    got = head(torch.randn(2, 3)).base_dist.scale
    torch.testing.assert_close(got, torch.full((2, 4), expected))


def test_logvar_link_is_unbounded_below_without_a_floor():
    head = make_head("gaussian", 3, 4, "identity", 0.0, 0.1, "logvar")
    with torch.no_grad():
        head.scale.weight.zero_()
        head.scale.bias.fill_(-30.0)
        assert float(head(torch.zeros(1, 3)).base_dist.scale.max()) < 1e-6  # exp(-15)


def test_default_links_are_unchanged():
    assert VAEOptions().scale == "softplus"
    assert M2GuideOptions().scale == "log_scale"


def _z_scale(guide: M2Guide, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.no_grad():
        trace = poutine.trace(guide).get_trace(x, y)
        out = guide.log_scale(guide.encoder(x, y))
    return trace.nodes["z"]["fn"].base_dist.scale, out


def test_guide_logvar_scale_is_exp_of_half_the_output():
    spec = DataSpec(x_dim=5, num_classes=3)
    x, y = torch.randn(4, 5), torch.tensor([0, 1, 2, 1])
    torch.manual_seed(0)
    half = M2Guide(M2GuideOptions(z_dim=2, hidden=(6,), classifier_hidden=(6,), scale="logvar"),
                   spec)
    torch.manual_seed(0)
    full = M2Guide(M2GuideOptions(z_dim=2, hidden=(6,), classifier_hidden=(6,)), spec)
    scale_half, out = _z_scale(half, x, y)
    scale_full, out_full = _z_scale(full, x, y)
    torch.testing.assert_close(out, out_full)  # same weights: only the link differs
    torch.testing.assert_close(scale_half, (0.5 * out).exp())
    torch.testing.assert_close(scale_full, out.exp())
    assert not torch.allclose(scale_half, scale_full)


def test_m2_model_passes_the_link_to_its_head():
    model = M2(M2Options(z_dim=2, hidden=(5,), likelihood="gaussian", mean="identity",
                         scale="logvar"), DataSpec(x_dim=4, num_classes=3))
    assert model.head.link == "logvar"


def test_bad_links_are_refused():
    with pytest.raises(ConfigError, match="model.scale must be one of softplus, logvar"):
        VAEOptions(scale="exp").validate()  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="guide.scale must be log_scale or logvar"):
        M2GuideOptions(scale="softplus").validate()  # type: ignore[arg-type]
