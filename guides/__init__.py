"""Amortized guides q_phi(z|x), registered by name (installed as ``ppvae.guides``)."""

from ppvae.guides.normal import NormalGuide, NormalGuideOptions

__all__ = ["NormalGuide", "NormalGuideOptions"]
